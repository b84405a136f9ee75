"""OpenCV peers behind the harness protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import shared_path
from eval_helpers import write_otb_sequence

from siam_tracker_ros.datasets import load_dataset, load_sequence
from siam_tracker_ros.evaluation.metrics import ope_scores
from siam_tracker_ros.evaluation.peers import OpenCVPeer, peer_unavailable_reason
from siam_tracker_ros.evaluation.protocols import run_one_pass


class _Stub:
    """An OpenCV-like tracker whose update succeeds once, then fails."""

    def __init__(self) -> None:
        self.calls = 0

    def init(self, image: np.ndarray, rect: tuple[int, int, int, int]) -> None:
        self.rect = rect

    def update(self, image: np.ndarray) -> tuple[bool, tuple[int, int, int, int]]:
        self.calls += 1
        return (True, (5, 6, 7, 8)) if self.calls == 1 else (False, (0, 0, 0, 0))


def test_failed_update_keeps_previous_box_and_reports_lost() -> None:
    peer = OpenCVPeer("kcf")
    peer._make = _Stub  # type: ignore[assignment]
    image = np.zeros((20, 20, 3), np.uint8)
    peer.init(image, [1.4, 2.6, 10, 10])
    assert peer._tracker.rect == (1, 3, 10, 10)  # OpenCV wants an integer Rect
    ok = peer.track(image)
    assert ok.present and ok.box.tolist() == [5, 6, 7, 8]
    lost = peer.track(image)
    assert not lost.present and lost.score == 0.0
    assert lost.box.tolist() == [5, 6, 7, 8]


def test_peers_without_weights_are_reported_not_raised(tmp_path: Path) -> None:
    assert peer_unavailable_reason("csrt", None) is None
    assert "weights" in str(peer_unavailable_reason("nanotrack", None))
    assert "missing weights" in str(peer_unavailable_reason("vittrack", tmp_path))
    assert "unknown peer" in str(peer_unavailable_reason("goturn", tmp_path))
    with pytest.raises(ValueError, match="missing weights"):
        OpenCVPeer("nanotrack", tmp_path)
    with pytest.raises(ValueError, match="positive size"):
        OpenCVPeer("csrt").init(np.zeros((9, 9, 3), np.uint8), [0, 0, 0, 4])


def test_csrt_follows_a_synthetic_target(tmp_path: Path) -> None:
    cv2.setNumThreads(1)
    write_otb_sequence(tmp_path / "Toy", n=16)
    seq = load_sequence(tmp_path / "Toy")
    rec = run_one_pass(OpenCVPeer("csrt"), seq)
    assert ope_scores(rec.boxes, seq.groundtruth).auc > 0.6
    assert rec.present[1:].all()


@pytest.mark.shared
@pytest.mark.parametrize(("peer", "auc"), [("csrt", 0.769), ("nanotrack", 0.758)])
def test_reproduces_peers_md_on_crossing(peer: str, auc: float) -> None:
    """PEERS.md's per-sequence AUC for Crossing (OpenCV 5.0, frame 1 left out)."""
    cv2.setNumThreads(1)
    data = shared_path("data")
    weights: Any = shared_path("weights")
    seq = load_dataset(data, "val", ["Crossing"])[0]
    rec = run_one_pass(OpenCVPeer(peer, weights), seq)
    assert ope_scores(rec.boxes, seq.groundtruth, seq.absent).auc == pytest.approx(auc, abs=0.01)


def test_mil_is_reproducible_within_one_process(tmp_path: Path) -> None:
    """MIL samples with libc rand(); each init re-seeds it, so run order does not matter."""
    write_otb_sequence(tmp_path / "Toy", n=12)
    seq = load_sequence(tmp_path / "Toy")
    first = run_one_pass(OpenCVPeer("mil"), seq).boxes
    second = run_one_pass(OpenCVPeer("mil"), seq).boxes
    np.testing.assert_array_equal(first, second)
