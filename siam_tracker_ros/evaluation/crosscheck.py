"""Cross-check our OTB scores against the ``got10k`` package's own report on the same boxes.

``got10k.experiments.ExperimentOTB`` wants to download OTB; here its ``report`` runs on a small
in-memory dataset shim and records written in its layout (``<results>/<tracker>/<seq>.txt``), so
the numbers come from its unmodified code. Its convention differs from PEERS.md in one respect:
it scores frame 1 (forcing it to the ground truth); :func:`compare_with_got10k` therefore scores
ours with ``skip_first=False`` on the same frames. Absent frames are dropped before both, since
``got10k``'s OTB report knows nothing about them.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from siam_tracker_ros.evaluation.metrics import mean_ope, ope_scores

__all__ = ["compare_with_got10k", "got10k_ope_report"]


class _Dataset:
    """Just enough of ``got10k.datasets.OTB`` for ``ExperimentOTB.report``."""

    def __init__(self, annos: Mapping[str, np.ndarray]) -> None:
        self.seq_names = list(annos)
        self._annos = [np.asarray(annos[n], dtype=np.float64) for n in self.seq_names]

    def __len__(self) -> int:
        return len(self.seq_names)

    def __iter__(self) -> Iterator[tuple[list[str], np.ndarray]]:
        for anno in self._annos:
            yield [], anno


def got10k_ope_report(
    predictions: Mapping[str, Mapping[str, np.ndarray]],
    groundtruth: Mapping[str, np.ndarray],
    work_dir: str | Path | None = None,
    plots: bool = False,
) -> dict[str, Any]:
    """``got10k``'s OTB report (``{tracker: {"overall": ..., "seq_wise": ...}}``).

    ``predictions``: tracker -> sequence -> ``(N, 4)`` boxes; ``groundtruth``: sequence ->
    ``(N, 4)`` boxes (every row scored, frame 1 replaced by the ground truth, got10k-style).
    """
    from got10k.experiments.otb import ExperimentOTB

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(work_dir) if work_dir is not None else Path(tmp)
        exp = ExperimentOTB.__new__(ExperimentOTB)  # skip __init__: it downloads OTB
        exp.dataset = _Dataset(groundtruth)
        exp.result_dir = str(root / "results")
        exp.report_dir = str(root / "reports")
        exp.nbins_iou, exp.nbins_ce = 21, 51
        if not plots:
            exp.plot_curves = lambda names: None  # instance attribute: the package is untouched
        for tracker, per_seq in predictions.items():
            folder = root / "results" / tracker
            folder.mkdir(parents=True, exist_ok=True)
            for seq, boxes in per_seq.items():
                np.savetxt(folder / f"{seq}.txt", np.asarray(boxes), fmt="%.6f", delimiter=",")
        with contextlib.redirect_stdout(io.StringIO()):  # it prints progress lines
            report: dict[str, Any] = exp.report(list(predictions))
    return report


def compare_with_got10k(
    predictions: Mapping[str, np.ndarray],
    groundtruth: Mapping[str, np.ndarray],
    absent: Mapping[str, np.ndarray] | None = None,
) -> dict[str, tuple[float, float]]:
    """``{"auc": (ours, got10k), "precision_20": (ours, got10k)}`` for one tracker's boxes."""
    preds, gts = {}, {}
    for name, gt in groundtruth.items():
        keep = (
            ~np.asarray(absent[name], dtype=bool) if absent is not None else np.ones(len(gt), bool)
        )
        preds[name] = np.asarray(predictions[name], dtype=np.float64)[keep]
        gts[name] = np.asarray(gt, dtype=np.float64)[keep]
    theirs = got10k_ope_report({"tracker": preds}, gts)["tracker"]["overall"]
    ours = mean_ope(
        ope_scores(np.vstack([gts[n][:1], preds[n][1:]]), gts[n], skip_first=False) for n in gts
    )
    return {
        "auc": (ours.auc, float(theirs["success_score"])),
        "precision_20": (ours.precision_20, float(theirs["precision_score"])),
    }
