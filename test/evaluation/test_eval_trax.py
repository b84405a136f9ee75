"""Drive the TraX server as the VOT toolkit does: a subprocess on pipes, the trax client library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import write_otb_sequence

from siam_tracker_ros.evaluation.metrics import iou

trax_client = pytest.importorskip("trax.client")


def test_trax_server_tracks_a_sequence_and_reinitialises(tmp_path: Path) -> None:
    from trax.image import FileImage
    from trax.region import Polygon, Rectangle

    gt = write_otb_sequence(tmp_path / "Toy", n=12)
    frames = sorted((tmp_path / "Toy" / "img").iterdir())
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # stderr stays separate here; the VOT toolkit merges it into stdout, which libtrax tolerates
    proc = subprocess.Popen(
        [sys.executable, "-m", "siam_tracker_ros.evaluation.trax_server", "--tracker", "csrt"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        # (this trax release's client needs a logger; a file logger is the one that works)
        client = trax_client.Client(
            stream=(proc.stdin.fileno(), proc.stdout.fileno()),
            timeout=60,
            log=str(tmp_path / "trax.log"),
        )
        assert client.tracker_name == "csrt"
        assert "rectangle" in client.region_formats and "path" in client.image_formats

        def image(i: int) -> dict[str, FileImage]:
            return {"color": FileImage.create(str(frames[i]))}

        objects, _ = client.initialize(image(0), [(Rectangle.create(*map(float, gt[0])), {})], {})
        np.testing.assert_allclose(objects[0][0].bounds(), gt[0])
        for i in range(1, 6):
            objects, _ = client.frame(image(i), {}, [])
            region, props = objects[0]
            assert iou(np.array(region.bounds()), gt[i]) > 0.6
            assert float(props["confidence"]) == 1.0 and props["present"] == "1"
        # re-initialise mid-sequence with a polygon (VOT ground truth), as after a failure
        x, y, w, h = (float(v) for v in gt[7])
        poly = Polygon.create([(x, y), (x + w, y), (x + w, y + h), (x, y + h)])
        objects, _ = client.initialize(image(7), [(poly, {})], {})
        np.testing.assert_allclose(objects[0][0].bounds(), gt[7], atol=1e-3)
        for i in range(8, 12):
            objects, _ = client.frame(image(i), {}, [])
            assert iou(np.array(objects[0][0].bounds()), gt[i]) > 0.6
        client.quit()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
