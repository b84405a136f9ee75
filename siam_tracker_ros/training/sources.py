"""Turn the ``data.sources`` entries of a training config into pair-sampler sources.

Entry types (all take ``weight``, ``frame_range`` and ``optional``; an optional source whose
root is missing is skipped with a warning, so one config serves machines with and without the
big public datasets):

* ``video``: ``root`` with ``<Name>/video.mp4`` + ``groundtruth_rect.txt`` (decoded once into
  ``data.cache_dir``); ``names`` optionally restricts the sequences.
* ``otb``: ``root`` with ``<Name>/img/*.jpg`` + ``groundtruth_rect.txt``.
* ``got10k`` (``root``, ``split``), ``lasot`` (``root``), ``vid`` (``root``, ``split``),
  ``coco`` (``ann_file``, ``image_dir``).
* ``synthetic``: :class:`~siam_tracker_ros.training.synthetic.SyntheticConfig` fields plus
  ``real_targets`` (default true): use the annotated objects and frames of the other (real)
  sources as targets and backgrounds.

The evaluation-only splits (``shared/data/sequences`` = val and ``shared/data/dev-videos``) are
refused by every reader (:func:`siam_tracker_ros.datasets.forbid_eval_split`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siam_tracker_ros.datasets import (
    TrackSequence,
    forbid_eval_split,
    read_coco,
    read_got10k,
    read_image_folder_sequences,
    read_lasot,
    read_vid,
    read_video_sequences,
)
from siam_tracker_ros.training.config import DataConfig, expand_path
from siam_tracker_ros.training.dataset import SequenceSource, SourceSpec
from siam_tracker_ros.training.synthetic import PhotoPool, SyntheticConfig, SyntheticSource

__all__ = ["build_source_split", "build_sources", "split_holdout"]

log = logging.getLogger(__name__)

_COMMON = {"type", "weight", "frame_range", "optional"}
_KEYS: dict[str, set[str]] = {
    "video": {"root", "names"},
    "otb": {"root", "names"},
    "got10k": {"root", "split"},
    "lasot": {"root"},
    "vid": {"root", "split"},
    "coco": {"ann_file", "image_dir", "min_size"},
    "synthetic": {f.name for f in dataclasses.fields(SyntheticConfig)}
    | {"real_targets", "real_photos"},
}


def _read_real(kind: str, e: Mapping[str, Any], cache_dir: str | None) -> list[TrackSequence]:
    if kind == "coco":
        ann, img_dir = expand_path(str(e["ann_file"])), expand_path(str(e["image_dir"]))
        forbid_eval_split(img_dir)
        if not Path(ann).is_file():
            raise FileNotFoundError(ann)
        return read_coco(ann, img_dir, float(e.get("min_size", 8.0)))
    root = expand_path(str(e["root"]))
    forbid_eval_split(root)
    if not Path(root).is_dir():
        raise FileNotFoundError(root)
    names = e.get("names")
    if kind == "video":
        return read_video_sequences(root, cache_dir and expand_path(cache_dir), names)
    if kind == "otb":
        return read_image_folder_sequences(root, names)
    if kind == "got10k":
        return read_got10k(root, str(e.get("split", "train")))
    if kind == "lasot":
        return read_lasot(root)
    if kind == "vid":
        return read_vid(root, str(e.get("split", "train")))
    raise ValueError(f"unknown source type {kind!r}")


def split_holdout(
    seqs: Sequence[TrackSequence], fraction: float, seed: int
) -> tuple[list[TrackSequence], list[TrackSequence]]:
    """``(train, held_out)``: ``round(fraction * n)`` sequences (at least 1 when ``fraction`` > 0
    and there are 2 or more; always at least 1 left to train on) held out, chosen by name with
    ``seed``, so the choice does not depend on reading order."""
    if fraction <= 0 or len(seqs) < 2:
        return list(seqs), []
    names = sorted({s.name for s in seqs})
    k = min(max(1, int(round(fraction * len(names)))), len(names) - 1)
    rng = np.random.default_rng(seed)
    held = {names[int(i)] for i in rng.permutation(len(names))[:k]}
    return [s for s in seqs if s.name not in held], [s for s in seqs if s.name in held]


def build_sources(cfg: DataConfig) -> list[SourceSpec]:
    """Read every configured source (decoding videos into the cache when needed); the
    sequences ``data.holdout_fraction`` holds out are not among them."""
    return build_source_split(cfg)[0]


def build_source_split(cfg: DataConfig) -> tuple[list[SourceSpec], list[SourceSpec]]:
    """``(training sources, held-out sources)``: the held-out sequences (``data.holdout_fraction``
    of each real source, by name; one source per real source that has any, with its weight and
    frame range) are in no training source, synthetic photo pool included."""
    specs: list[SourceSpec] = []
    real: list[TrackSequence] = []
    held_out: list[SourceSpec] = []
    synthetic_entries: list[tuple[int, Mapping[str, Any]]] = []
    for i, entry in enumerate(cfg.sources):
        kind = entry.get("type")
        key = f"data.sources[{i}]"
        if kind not in _KEYS:
            raise ValueError(f"{key}.type: must be one of {sorted(_KEYS)}, got {kind!r}")
        unknown = sorted(set(entry) - _COMMON - _KEYS[kind])
        if unknown:
            raise ValueError(f"{key}.{unknown[0]}: unknown key for a {kind} source")
        if kind == "synthetic":
            synthetic_entries.append((len(specs), entry))
            specs.append(SourceSpec(source=SequenceSource("placeholder", []), weight=0.0))
            continue
        try:
            seqs = _read_real(kind, entry, cfg.cache_dir)
        except FileNotFoundError as exc:
            if entry.get("optional", False):
                log.warning("%s (%s) skipped: %s not found", key, kind, exc)
                continue
            raise FileNotFoundError(f"{key}: {exc} not found") from None
        seqs, held = split_holdout(seqs, cfg.holdout_fraction, cfg.holdout_seed + i)
        if held:
            log.info("%s: %d sequences held out: %s", key, len(held), [s.name for s in held])
            held_out.append(
                SourceSpec(
                    source=SequenceSource(f"{kind}{i}-holdout", held),
                    weight=float(entry.get("weight", 1.0)),
                    frame_range=int(entry.get("frame_range", 100)),
                )
            )
        log.info("%s: %d %s sequences", key, len(seqs), kind)
        real.extend(seqs)
        specs.append(
            SourceSpec(
                source=SequenceSource(f"{kind}{i}", seqs),
                weight=float(entry.get("weight", 1.0)),
                frame_range=int(entry.get("frame_range", 100)),
            )
        )
    for pos, syn in synthetic_entries:
        fields = {k: v for k, v in syn.items() if k in _KEYS["synthetic"]}
        real_targets = bool(fields.pop("real_targets", True))
        real_photos = int(fields.pop("real_photos", 300))
        if "photo_dirs" in fields:
            fields["photo_dirs"] = tuple(expand_path(str(d)) for d in fields["photo_dirs"])
        scfg = SyntheticConfig(**fields)
        pool_entries = _real_photo_entries(real, real_photos, scfg.seed) if real_targets else []
        pool = PhotoPool.discover(pool_entries, scfg.photo_dirs, scfg.photo_cache)
        log.info("synthetic source: %d sequences, %d photos", scfg.num_sequences, len(pool))
        specs[pos] = SourceSpec(
            source=SyntheticSource(scfg, pool),
            weight=float(syn.get("weight", 1.0)),
            frame_range=int(syn.get("frame_range", 30)),
        )
    return [s for s in specs if s.weight > 0 and len(s.source) > 0], held_out


def _real_photo_entries(
    seqs: Sequence[TrackSequence], count: int, seed: int
) -> list[tuple[str, np.ndarray | None]]:
    """``count`` random annotated frames of the real sequences (frame path, target box)."""
    pairs = [(s, int(t)) for s in seqs for t in s.visible[:: max(1, len(s.visible) // 20)]]
    if not pairs:
        return []
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(pairs), size=min(count, len(pairs)), replace=False)
    out: list[tuple[str, np.ndarray | None]] = []
    for i in pick:
        s, t = pairs[int(i)]
        out.append((s.frames[t], s.boxes[t].copy()))
    return out
