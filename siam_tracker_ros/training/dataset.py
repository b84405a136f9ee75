"""Template/search pair sampling over several sources, as a map-style torch ``Dataset``.

Each item is a pure function of ``(seed, epoch, index)``: the random generator is built from
those three numbers, so DataLoader workers need no shared state, every rank of a distributed run
can take its own slice of indices, and a run resumed mid-epoch sees exactly the batches it would
have seen.

Sampling follows pysot: a source is drawn by weight, a sequence uniformly, a template frame among
the visible ones and a search frame within ``frame_range`` of it; one-frame sequences (still
images) pair an image with itself under different augmentations; with probability ``neg_prob``
the search comes from a different sequence (a negative pair: everything in it is background,
including the object centred in it, which is exactly a "semantic distractor").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from siam_tracker_ros.datasets import TrackSequence
from siam_tracker_ros.training.augment import AugmentConfig, crop_view, to_gray

__all__ = ["PairDataset", "PairSource", "SequenceSource", "SourceSpec"]

log = logging.getLogger(__name__)


class PairSource(Protocol):
    """What the sampler needs from a source of sequences."""

    name: str

    def __len__(self) -> int: ...

    def num_frames(self, seq: int) -> int: ...

    def visible(self, seq: int) -> np.ndarray: ...

    def load(self, seq: int, t: int) -> tuple[np.ndarray, np.ndarray]: ...


class SequenceSource:
    """Real sequences read from image files (:class:`TrackSequence` lists)."""

    def __init__(self, name: str, sequences: Sequence[TrackSequence]) -> None:
        self.name = name
        self.sequences = [s for s in sequences if len(s.visible)]
        dropped = len(sequences) - len(self.sequences)
        if dropped:
            log.info("%s: dropped %d sequences without a visible target", name, dropped)
        self._visible = [s.visible for s in self.sequences]

    def __len__(self) -> int:
        return len(self.sequences)

    def num_frames(self, seq: int) -> int:
        return len(self.sequences[seq].frames)

    def visible(self, seq: int) -> np.ndarray:
        return self._visible[seq]

    def load(self, seq: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.sequences[seq]
        img = cv2.imread(s.frames[t], cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f"cannot read {s.frames[t]}")
        return img, s.boxes[t]


@dataclass
class SourceSpec:
    """A source with its sampling weight and frame range."""

    source: PairSource
    weight: float = 1.0
    frame_range: int = 100


class PairDataset(Dataset[dict[str, torch.Tensor]]):
    """``samples_per_epoch`` random pairs; ``set_epoch`` changes which ones."""

    def __init__(
        self,
        sources: Sequence[SourceSpec],
        samples_per_epoch: int,
        *,
        template_aug: AugmentConfig,
        search_aug: AugmentConfig,
        neg_prob: float = 0.2,
        gray_prob: float = 0.0,
        exemplar_size: int = 127,
        search_size: int = 255,
        context: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.sources = [s for s in sources if len(s.source) > 0]
        if not self.sources:
            raise ValueError("no training data: every source is empty")
        w = np.asarray([s.weight for s in self.sources], dtype=np.float64)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("source weights must be >= 0 and not all 0")
        self.weights = w / w.sum()
        self.samples_per_epoch = int(samples_per_epoch)
        self.template_aug, self.search_aug = template_aug, search_aug
        self.neg_prob, self.gray_prob = neg_prob, gray_prob
        self.exemplar_size, self.search_size, self.context = exemplar_size, search_size, context
        self.seed = seed
        self.epoch = 0
        self._visible: dict[tuple[int, int], np.ndarray] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _vis(self, src: int, seq: int) -> np.ndarray:
        key = (src, seq)
        if key not in self._visible:
            self._visible[key] = self.sources[src].source.visible(seq)
        return self._visible[key]

    def _pick(self, rng: np.random.Generator) -> tuple[int, int]:
        for _ in range(100):
            src = int(rng.choice(len(self.sources), p=self.weights))
            seq = int(rng.integers(len(self.sources[src].source)))
            if len(self._vis(src, seq)):
                return src, seq
        raise RuntimeError("could not find a sequence with a visible target")

    def sample_indices(
        self, rng: np.random.Generator
    ) -> tuple[tuple[int, int, int], tuple[int, int, int], bool]:
        """``((src, seq, t_template), (src, seq, t_search), positive)``."""
        src, seq = self._pick(rng)
        vis = self._vis(src, seq)
        t_z = int(vis[rng.integers(len(vis))])
        positive = rng.random() >= self.neg_prob
        if positive:
            rng_ = self.sources[src].frame_range
            near = vis[(vis >= t_z - rng_) & (vis <= t_z + rng_)]
            t_x = int(near[rng.integers(len(near))])
            return (src, seq, t_z), (src, seq, t_x), True
        for _ in range(100):
            src2, seq2 = self._pick(rng)
            if (src2, seq2) != (src, seq) or self._total_sequences() == 1:
                break
        vis2 = self._vis(src2, seq2)
        return (src, seq, t_z), (src2, seq2, int(vis2[rng.integers(len(vis2))])), False

    def _total_sequences(self) -> int:
        return sum(len(s.source) for s in self.sources)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        (zs, zq, zt), (xs, xq, xt), positive = self.sample_indices(rng)
        z_img, z_box = self.sources[zs].source.load(zq, zt)
        x_img, x_box = self.sources[xs].source.load(xq, xt)
        if self.gray_prob and rng.random() < self.gray_prob:
            z_img, x_img = to_gray(z_img), to_gray(x_img)
        z, _ = crop_view(
            z_img,
            z_box,
            self.exemplar_size,
            self.template_aug,
            rng,
            exemplar_size=self.exemplar_size,
            context=self.context,
        )
        x, box = crop_view(
            x_img,
            x_box,
            self.search_size,
            self.search_aug,
            rng,
            exemplar_size=self.exemplar_size,
            context=self.context,
        )
        return {
            "template": torch.from_numpy(np.ascontiguousarray(z.transpose(2, 0, 1))),
            "search": torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
            "box": torch.from_numpy(box),
            "positive": torch.tensor(positive),
        }
