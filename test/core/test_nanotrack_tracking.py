"""The project tracker with the ``nanotrack`` family against NanoTrack's own post-processing and
against ``cv2.TrackerNano``.

* The point decoder (``core.decoding.decode_point`` + ``select_best``) equals NanoTrack's
  ``NanoTracker`` arithmetic (``_convert_score``, ``_convert_bbox``, scale/ratio penalty, Hanning
  window, argmax), re-stated here in numpy.
* ``Tracker`` with ``config/models/nanotrack_v2.yaml`` follows a numpy re-statement of NanoTrack's
  whole ``NanoTracker.track`` to float round-off on a real sequence.
* ``cv2.TrackerNano`` differs from NanoTrack's tracker in several details (found by reproducing it
  exactly, :class:`OpenCVNanoEmulation`): it feeds the network **RGB** (``blobFromImage(...,
  swapRB=true)``) although NanoTrack trained on BGR; its cosine window is
  ``cv2.createHanningWindow`` = the **square root** of NanoTrack's; its scale penalty divides by
  the size of the target's **position** ``sz(cx, cy)`` instead of its size; the search crop is
  ``2 * s_z`` (integer ``255 / 127``) instead of ``255 / 127 * s_z``; crops start at
  ``int(cx) - (sz + 1) / 2``; the template extent is truncated to int; it pads with the mean of
  the *current* frame; its box centre is ``x + w / 2`` and it returns integer boxes. Each of these
  alone moves the boxes by about a pixel, which on `val`'s small targets costs 0.03-0.14 IoU
  and, on the look-alike and occlusion sequences, sends the two trackers to different objects.
  So the project tracker (faithful to NanoTrack) follows cv2 closely but not exactly
  (``test_project_tracker_follows_cv2_trackernano``); with
  ``config/models/nanotrack_v2_opencv.yaml`` (``TrackerConfig`` options ``channel_order``,
  ``window_exponent``, ``search_scale``, ``box_rounding`` and ``opencv_compat``) the same
  ``Tracker`` reproduces cv2.TrackerNano
  (``test_opencv_config_follows_cv2_trackernano``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, shared_path

from siam_tracker_ros.core.anchors import cosine_window, generate_points
from siam_tracker_ros.core.config import MechanismsConfig
from siam_tracker_ros.core.decoding import decode_point, select_best
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.nanotrack import NanoTrack, point_offsets

V2_CONFIG = ROOT / "config" / "models" / "nanotrack_v2.yaml"
V2_OPENCV_CONFIG = ROOT / "config" / "models" / "nanotrack_v2_opencv.yaml"


# ------------------------------------------------------------- NanoTrack's post-processing (numpy)
def nanotrack_points(size: int, stride: int = 16) -> np.ndarray:
    """``NanoTracker.generate_points``: ``(N*N, 2)`` x, y from the crop centre, row-major."""
    ori = -(size // 2) * stride
    x, y = np.meshgrid(ori + stride * np.arange(size), ori + stride * np.arange(size))
    return np.stack([x.flatten(), y.flatten()], 1).astype(np.float32)


def nanotrack_select(
    cls: np.ndarray,
    loc: np.ndarray,
    size_wh: np.ndarray,
    scale_z: float,
    penalty_k: float,
    window_influence: float,
) -> tuple[int, float, float, np.ndarray]:
    """NanoTracker.track's scoring for one crop: (best index, score, penalty, cx/cy/w/h in crop)."""
    n = cls.shape[-1]
    flat = cls.reshape(2, -1).T.astype(np.float32)
    e = np.exp(flat - flat.max(1, keepdims=True))
    score = (e / e.sum(1, keepdims=True))[:, 1]
    points = nanotrack_points(n)
    d = loc.reshape(4, -1).astype(np.float32).copy()
    x1, y1 = points[:, 0] - d[0], points[:, 1] - d[1]
    x2, y2 = points[:, 0] + d[2], points[:, 1] + d[3]
    box = np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])

    def change(r: np.ndarray) -> np.ndarray:
        return np.maximum(r, 1.0 / r)

    def sz(w: np.ndarray | float, h: np.ndarray | float) -> np.ndarray:
        pad = (w + h) * 0.5
        return np.sqrt((w + pad) * (h + pad))

    s_c = change(sz(box[2], box[3]) / sz(size_wh[0] * scale_z, size_wh[1] * scale_z))
    r_c = change((size_wh[0] / size_wh[1]) / (box[2] / box[3]))
    penalty = np.exp(-(r_c * s_c - 1) * penalty_k)
    window = np.outer(np.hanning(n), np.hanning(n)).flatten()
    pscore = penalty * score * (1 - window_influence) + window * window_influence
    best = int(np.argmax(pscore))
    return best, float(score[best]), float(penalty[best]), box[:, best]


@pytest.mark.parametrize("n", [15, 16, 22])
def test_point_decoder_equals_nanotrack_postprocessing(n: int) -> None:
    rng = np.random.default_rng(n)
    for trial in range(20):
        cls = rng.normal(0, 2, (1, 2, n, n)).astype(np.float32)
        loc = np.exp(rng.normal(3.5, 0.5, (1, 4, n, n))).astype(np.float32)
        size_wh = rng.uniform(10, 120, 2)
        scale_z = float(rng.uniform(0.5, 3))
        k, wi = float(rng.uniform(0, 0.3)), float(rng.uniform(0, 0.6))
        decoded = decode_point(cls, loc, generate_points(16, n))
        cand = select_best(decoded, (size_wh[0], size_wh[1]), scale_z, k, cosine_window(n), wi)
        best, score, penalty, box = nanotrack_select(cls[0], loc[0], size_wh, scale_z, k, wi)
        assert cand.index == best, trial
        assert cand.score == pytest.approx(score, rel=1e-6, abs=1e-7)
        assert cand.penalty == pytest.approx(penalty, rel=1e-6)  # float32 round-off
        np.testing.assert_allclose(cand.box, box, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("n", [15, 16, 21, 22])
def test_point_grids_agree(n: int) -> None:
    """Core's grid, the model's documented grid and NanoTrack's ``generate_points``."""
    np.testing.assert_array_equal(generate_points(16, n), nanotrack_points(n))
    np.testing.assert_array_equal(np.unique(generate_points(16, n)[:, 0]), point_offsets(n, 16))


# ------------------------------------------------------------------ trackers on a real sequence
def _sequence(name: str, cap: int) -> tuple[list[np.ndarray], np.ndarray]:
    seq = shared_path("data", "sequences", name)
    frames = sorted((seq / "img").glob("*.jpg"))[:cap]
    gt = np.loadtxt(seq / "groundtruth_rect.txt", delimiter=",")[: len(frames)]
    return [cv2.imread(str(f)) for f in frames], gt


def _weights(name: str) -> Path:
    return shared_path("weights", "nanotrack", name)


def _v2_tracker_mechanisms_off() -> Tracker:
    """nanotrack_v2.yaml's network and hyper-parameters with every SiamMargin mechanism off."""
    shipped = load_tracker(
        V2_CONFIG, weights=_weights("pretrained_nanotrackv2.pth"), require_weights=False
    )
    return Tracker(
        shipped.model, dataclasses.replace(shipped.config, mechanisms=MechanismsConfig())
    )


class NanoTrackReference:
    """NanoTrack's ``NanoTracker`` (init/track) in numpy around the project's network."""

    def __init__(self, model: NanoTrack, window_influence: float, penalty_k: float, lr: float):
        self.model, self.wi, self.k, self.lr = model, window_influence, penalty_k, lr

    def _crop(self, img: np.ndarray, model_sz: int, original_sz: int) -> torch.Tensor:
        c = (original_sz + 1) / 2
        xmin = int(np.floor(self.pos[0] - c + 0.5))
        ymin = int(np.floor(self.pos[1] - c + 0.5))
        h, w = img.shape[:2]
        pad = max(0, -xmin, -ymin, xmin + original_sz - w, ymin + original_sz - h)
        big = np.empty((h + 2 * pad, w + 2 * pad, 3), np.uint8)
        big[...] = self.avg.astype(np.uint8)
        big[pad : pad + h, pad : pad + w] = img
        patch = big[ymin + pad : ymin + pad + original_sz, xmin + pad : xmin + pad + original_sz]
        if model_sz != original_sz:
            patch = cv2.resize(patch, (model_sz, model_sz))
        return torch.from_numpy(patch.transpose(2, 0, 1)[None].astype(np.float32))

    def init(self, img: np.ndarray, box: np.ndarray) -> None:
        self.pos = np.array([box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2])
        self.size = np.array([box[2], box[3]], np.float64)
        s_z = round(np.sqrt(np.prod(self.size + 0.5 * self.size.sum())))
        self.avg = img.mean(axis=(0, 1))
        with torch.inference_mode():
            zf = self.model.template_features(self._crop(img, 127, s_z))
            self.kernels = self.model.make_kernels(zf)

    def track(self, img: np.ndarray) -> np.ndarray:
        s_z = np.sqrt(np.prod(self.size + 0.5 * self.size.sum()))
        scale_z = 127 / s_z
        with torch.inference_mode():
            x = self._crop(img, 255, round(s_z * 255 / 127))
            out = self.model.head(self.model.search_features(x), self.kernels)
        best, score, penalty, box = nanotrack_select(
            out.cls[0].numpy(), out.loc[0].numpy(), self.size, scale_z, self.k, self.wi
        )
        box = box / scale_z
        lr = penalty * score * self.lr
        cx, cy = box[0] + self.pos[0], box[1] + self.pos[1]
        w = self.size[0] * (1 - lr) + box[2] * lr
        h = self.size[1] * (1 - lr) + box[3] * lr
        cx, cy = max(0, min(cx, img.shape[1])), max(0, min(cy, img.shape[0]))
        w, h = max(10, min(w, img.shape[1])), max(10, min(h, img.shape[0]))
        self.pos, self.size = np.array([cx, cy]), np.array([w, h])
        return np.array([cx - w / 2, cy - h / 2, w, h])


@pytest.mark.shared
def test_project_tracker_is_nanotracks_tracker() -> None:
    """The project Tracker with nanotrack_v2.yaml (mechanisms off) = NanoTracker, to round-off."""
    frames, gt = _sequence("vot_ball1", 40)
    tracker = _v2_tracker_mechanisms_off()
    cfg = tracker.config
    model = tracker.model
    assert isinstance(model, NanoTrack)
    ref = NanoTrackReference(model, cfg.window_influence, cfg.penalty_k, cfg.lr)
    tracker.init(frames[0], gt[0])
    ref.init(frames[0], gt[0])
    for i, frame in enumerate(frames[1:], 1):
        np.testing.assert_allclose(tracker.track(frame).box, ref.track(frame), atol=1e-3, err_msg=i)


class OpenCVNanoEmulation(NanoTrackReference):
    """``cv2.TrackerNano``'s post-processing (see the module docstring) around the same network."""

    def __init__(self, model: NanoTrack) -> None:
        super().__init__(model, window_influence=0.455, penalty_k=0.055, lr=0.37)
        self.window = cv2.createHanningWindow((16, 16), cv2.CV_32F)
        grid = (np.arange(16, dtype=np.float32) - 8) * 16 + 127
        self.gx, self.gy = np.meshgrid(grid, grid)

    def _cv_crop(self, img: np.ndarray, original_sz: int, model_sz: int) -> torch.Tensor:
        c = (original_sz + 1) // 2
        xmin, ymin = int(self.pos[0]) - c, int(self.pos[1]) - c
        h, w = img.shape[:2]
        pads = (
            max(0, -ymin),
            max(0, ymin + original_sz - h),
            max(0, -xmin),
            max(0, xmin + original_sz - w),
        )
        avg = cv2.mean(img)[:3]
        big = cv2.copyMakeBorder(img, *pads, cv2.BORDER_CONSTANT, value=avg) if any(pads) else img
        y0, x0 = ymin + pads[0], xmin + pads[2]
        patch = cv2.resize(big[y0 : y0 + original_sz, x0 : x0 + original_sz], (model_sz, model_sz))
        rgb = np.ascontiguousarray(patch[:, :, ::-1].transpose(2, 0, 1))  # swapRB=true
        return torch.from_numpy(rgb[None].astype(np.float32))

    def init(self, img: np.ndarray, box: np.ndarray) -> None:
        x, y, w, h = (int(v) for v in box)
        self.pos = np.array([x + w * 0.5, y + h * 0.5], np.float32)
        self.size = np.array([w, h], np.float32)
        s = int(np.sqrt(np.prod(self.size + 0.5 * self.size.sum())))
        with torch.inference_mode():
            self.kernels = self.model.make_kernels(
                self.model.template_features(self._cv_crop(img, s, 127))
            )

    def track(self, img: np.ndarray) -> np.ndarray:
        total = int(self.size.sum())
        s_z = np.float32(np.sqrt((self.size[0] + 0.5 * total) * (self.size[1] + 0.5 * total)))
        scale = np.float32(127 / s_z)
        with torch.inference_mode():
            out = self.model.head(
                self.model.search_features(self._cv_crop(img, int(s_z * 2), 255)), self.kernels
            )
        cls, loc = out.cls[0].numpy(), out.loc[0].numpy()
        e = np.exp(cls - cls.max(0))
        score = (e / e.sum(0))[1]
        x1, y1 = self.gx - loc[0], self.gy - loc[1]
        x2, y2 = self.gx + loc[2], self.gy + loc[3]

        def sz(w: np.ndarray | float, h: np.ndarray | float) -> np.ndarray:
            pad = (w + h) * 0.5
            return np.sqrt((w + pad) * (h + pad))

        sc = sz(x2 - x1, y2 - y1) / sz(self.pos[0], self.pos[1])  # OpenCV: position, not size
        sc = np.maximum(sc, 1 / sc)
        rc = (self.size[0] / self.size[1]) / ((x2 - x1) / (y2 - y1))
        rc = np.maximum(rc, 1 / rc)
        penalty = np.exp(-(rc * sc - 1) * self.k)
        pscore = penalty * score * (1 - self.wi) + self.window * self.wi
        i = np.unravel_index(np.argmax(pscore), pscore.shape)
        lr = penalty[i] * score[i] * self.lr
        cx = self.pos[0] + ((x1[i] + x2[i]) / 2 - 127) / scale
        cy = self.pos[1] + ((y1[i] + y2[i]) / 2 - 127) / scale
        w = (x2[i] - x1[i]) / scale * lr + (1 - lr) * self.size[0]
        h = (y2[i] - y1[i]) / scale * lr + (1 - lr) * self.size[1]
        cx, cy = max(0, min(img.shape[1], cx)), max(0, min(img.shape[0], cy))
        w, h = max(10, min(img.shape[1], w)), max(10, min(img.shape[0], h))
        self.pos, self.size = np.array([cx, cy], np.float32), np.array([w, h], np.float32)
        return np.array([int(cx - w / 2), int(cy - h / 2), int(w), int(h)], np.float64)


def _cv2_nano() -> cv2.Tracker:
    params = cv2.TrackerNano_Params()
    params.backbone = str(_weights("nanotrackv2_nanotrack_backbone_sim.onnx"))
    params.neckhead = str(_weights("nanotrackv2_nanotrack_head_sim.onnx"))
    return cv2.TrackerNano_create(params)


def _run_cv2(frames: list[np.ndarray], box: np.ndarray) -> np.ndarray:
    cv2.setNumThreads(1)
    tracker = _cv2_nano()
    tracker.init(frames[0], tuple(int(v) for v in box))
    return np.array([tracker.update(f)[1] for f in frames[1:]], np.float64)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo = np.maximum(a[:, :2], b[:, :2])
    hi = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    return inter / (np.prod(a[:, 2:], 1) + np.prod(b[:, 2:], 1) - inter)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["Crossing", "vot_ball1"])
def test_project_network_reproduces_cv2_trackernano_exactly(name: str) -> None:
    """With OpenCV's post-processing re-stated, the project's NanoTrack v2 network gives
    cv2.TrackerNano's integer boxes frame for frame: model and ONNX export are the same tracker."""
    frames, gt = _sequence(name, 30)
    model = load_tracker(
        V2_CONFIG, weights=_weights("pretrained_nanotrackv2.pth"), require_weights=False
    ).model
    assert isinstance(model, NanoTrack)
    emu = OpenCVNanoEmulation(model)
    emu.init(frames[0], gt[0])
    ours = np.array([emu.track(f) for f in frames[1:]])
    np.testing.assert_array_equal(ours, _run_cv2(frames, gt[0]))


@pytest.mark.shared
@pytest.mark.slow
def test_project_tracker_follows_cv2_trackernano() -> None:
    """Project tracker (v2, mechanisms off) vs cv2.TrackerNano over the first 60 frames of three
    `val` sequences. Measured: mean IoU 0.877 / 0.913 / 0.902 (Crossing / Woman / vot_ball1),
    minimum 0.67: the two follow the same target about a pixel apart (see the module docstring
    for why not 0.95; full `val`: 0.82, docs/nanotrack_ablation.md)."""
    tracker = _v2_tracker_mechanisms_off()
    ious = []
    for name in ("Crossing", "Woman", "vot_ball1"):
        frames, gt = _sequence(name, 60)
        tracker.init(frames[0], gt[0])
        ours = np.array([tracker.track(f).box for f in frames[1:]])
        per_seq = _iou(ours, _run_cv2(frames, gt[0]))
        assert per_seq.min() > 0.5, name  # never on another object
        assert per_seq.mean() > 0.8, name
        ious.append(per_seq)
    assert float(np.concatenate(ious).mean()) >= 0.8


@pytest.mark.shared
@pytest.mark.slow
def test_opencv_config_follows_cv2_trackernano() -> None:
    """Issue requirement: the ONE project Tracker, configured with OpenCV's conventions
    (nanotrack_v2_opencv.yaml, mechanisms off), follows cv2.TrackerNano with the same v2 weights
    at mean IoU >= 0.95 on `val` (here the first 40 frames of every `val` sequence; the full-`val`
    figure is in docs/nanotrack_ablation.md)."""
    tracker = load_tracker(
        V2_OPENCV_CONFIG, weights=_weights("pretrained_nanotrackv2.pth"), require_weights=False
    )
    assert tracker.config.opencv_compat and tracker.config.channel_order == "rgb"
    ious = []
    for seq in sorted(shared_path("data", "sequences").iterdir()):
        frames, gt = _sequence(seq.name, 40)
        tracker.init(frames[0], gt[0])
        ours = np.array([tracker.track(f).box for f in frames[1:]])
        ious.append(_iou(ours, _run_cv2(frames, gt[0])))
    assert float(np.concatenate(ious).mean()) >= 0.95


def test_opencv_options_leave_the_default_tracker_alone() -> None:
    """The shipped NanoTrack config stays NanoTrack's own post-processing."""
    from siam_tracker_ros.core.config import load_config

    cfg = load_config(V2_CONFIG).tracker
    assert (cfg.channel_order, cfg.window_exponent, cfg.search_scale) == ("bgr", 1.0, 0.0)
    assert (cfg.box_rounding, cfg.opencv_compat) == ("none", False)


@pytest.mark.shared
@pytest.mark.parametrize("version", [1, 3])
def test_v1_and_v3_configs_track(version: int) -> None:
    """v1 (16x16 map) and v3 (15x15 map, pixel + depth-wise head) through the project tracker."""
    frames, gt = _sequence("vot_ball1", 25)
    config = ROOT / "config" / "models" / f"nanotrack_v{version}.yaml"
    tracker = load_tracker(
        config, weights=_weights(f"pretrained_nanotrackv{version}.pth"), require_weights=False
    )
    tracker.init(frames[0], gt[0])
    results = [tracker.track(f) for f in frames[1:]]
    assert {r.response.shape for r in results} == {(16, 16) if version == 1 else (15, 15)}
    assert float(_iou(np.array([r.box for r in results]), gt[1:]).mean()) > 0.6


@pytest.mark.shared
@pytest.mark.parametrize("version", [2, 3])
def test_larger_search_crops_decode_to_the_same_box(version: int) -> None:
    """Adaptive search (351) and lost-state widening (383) at the template's scale: larger score
    maps (22x22 / 24x24 for v2) whose point grid puts the best box where the 255 crop does.

    Only sizes with ``(S - 255) / 16`` even keep NanoTrack's ``-(N // 2) * stride`` grid aligned
    with the crop centre (as here); for e.g. 271 or 527 the Tracker shifts the grid by
    ``core.decoding.grid_shift`` (``test_core_grid_alignment.py``).
    """
    from siam_tracker_ros.core.geometry import get_subwindow

    seq = shared_path("data", "sequences", "vot_ball1")
    gt = np.loadtxt(seq / "groundtruth_rect.txt", delimiter=",")
    img0, img = cv2.imread(str(seq / "img" / "0001.jpg")), cv2.imread(str(seq / "img" / "0003.jpg"))
    x, y, w, h = gt[0]
    center = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
    s_z = np.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
    avg = img0.mean(axis=(0, 1))
    config = ROOT / "config" / "models" / f"nanotrack_v{version}.yaml"
    model = load_tracker(
        config,
        weights=_weights(f"pretrained_nanotrackv{version}.pth"),
        require_weights=False,
    ).model

    def blob(patch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(patch.transpose(2, 0, 1)[None].astype(np.float32))

    boxes = {}
    with torch.inference_mode():
        kernels = model.make_kernels(
            model.template_features(blob(get_subwindow(img0, center, 127, round(s_z), avg)))
        )
        for size in (255, 351, 383):
            crop = get_subwindow(img, center, size, round(s_z * size / 127), avg)
            out = model.head(model.search_features(blob(crop)), kernels)
            n = out.cls.shape[-1]
            assert n == (size - 255) // 16 + (16 if version == 2 else 15)
            decoded = decode_point(out.cls.numpy(), out.loc.numpy(), generate_points(16, n))
            cand = select_best(decoded, (w, h), 127 / s_z, 0.15, cosine_window(n), 0.0)
            boxes[size] = cand.box
    for size in (351, 383):
        np.testing.assert_allclose(boxes[size], boxes[255], atol=3.0, err_msg=str(size))
