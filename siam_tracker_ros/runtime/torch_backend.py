"""The PyTorch eager backend (registry name ``torch``, built by :func:`runtime.cuda_graph.build`,
which picks this or the CUDA graph backend)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Literal

import cv2
import numpy as np
import torch

from siam_tracker_ros.models.base import Features, Kernels, SiameseModel
from siam_tracker_ros.runtime.base import Roi, SearchOutput
from siam_tracker_ros.runtime.config import RuntimeConfig, resolve_device

__all__ = ["TorchBackend", "head_to_host"]


def head_to_host(cls: torch.Tensor, loc: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Batch item 0 of the head's maps as float32 NumPy arrays; one copy from a GPU."""
    cls, loc = cls[:1].float(), loc[:1].float()
    if cls.device.type == "cpu":
        return cls.numpy(), loc.numpy()
    flat = torch.cat([cls.flatten(), loc.flatten()]).cpu().numpy()
    split = cls.numel()
    return flat[:split].reshape(cls.shape), flat[split:].reshape(loc.shape)


class TorchBackend:
    """The model in eager PyTorch: on CPU float32 (pysot's numbers), on CUDA optionally under
    autocast (``precision``) and with channels_last.

    channels_last also on CPU: oneDNN's NHWC convolutions run NanoTrack's eager forward 15-40%
    faster there (``docs/speed.md``). The model is moved to the device (and layout) in place.
    """

    def __init__(self, model: SiameseModel, config: RuntimeConfig) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.stride = int(model.stride)
        self.head_type: Literal["anchor", "point"] = model.head_type
        self._channels_last = config.channels_last
        model = model.eval().to(self.device)
        if self._channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.model = model
        self._amp_dtype = config.amp_dtype if self.device.type == "cuda" else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device}, precision={self.config.precision})"

    # ------------------------------------------------------------------ host <-> device
    def tensor(self, crop: np.ndarray) -> torch.Tensor:
        """A ``1 x 3 x S x S`` float crop on the device, in the model's memory layout."""
        if self.device.type == "cpu":
            # HWC float permuted to 1x3xHxW *is* the channels_last layout: one cast pass. The
            # contiguous NCHW crop: OpenCV's plane split, then one cast of the uint8 planes (2.3x
            # cheaper than a transposing NumPy cast, docs/speed.md). Both copy, so read-only
            # buffers are fine.
            if self._channels_last:
                return torch.from_numpy(crop.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)
            return torch.from_numpy(np.stack(cv2.split(crop)).astype(np.float32)[None])
        if not crop.flags.writeable:  # e.g. a read-only ROS buffer viewed without copying
            crop = crop.copy()
        t = torch.from_numpy(crop).to(self.device, non_blocking=True)
        t = t.permute(2, 0, 1).unsqueeze(0).float()
        if self._channels_last:
            return t.contiguous(memory_format=torch.channels_last)
        return t.contiguous()

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self._amp_dtype is not None:
            with torch.autocast("cuda", dtype=self._amp_dtype):
                yield
        else:
            yield

    def beside(self) -> contextlib.AbstractContextManager[None]:
        """No-op: PyTorch's thread count is process-wide (see :class:`InferenceBackend`)."""
        return contextlib.nullcontext()

    def to_host(self, tensors: Sequence[torch.Tensor]) -> list[np.ndarray]:
        return [t.detach().float().cpu().numpy() for t in tensors]

    # ------------------------------------------------------------------ InferenceBackend
    def prepare(self, exemplar_size: int, search_sizes: Sequence[int]) -> None:
        """Nothing to prepare in eager mode."""

    def template(self, crop: np.ndarray) -> Kernels:
        with torch.inference_mode(), self.autocast():
            return self.model.make_kernels(self.model.template_features(self.tensor(crop)))

    def run_search(self, x: torch.Tensor, kernels: Kernels) -> tuple[torch.Tensor, ...]:
        """``cls, loc, *features`` of one search crop tensor (subclasses replay graphs here)."""
        with self.autocast():
            xf = self.model.search_features(x)
            out = self.model.head(xf, kernels)
        return (out.cls, out.loc, *xf)

    def search(self, crop: np.ndarray, kernels: Kernels) -> SearchOutput:
        with torch.inference_mode():
            cls, loc, *features = self.run_search(self.tensor(crop), kernels)
            cls_host, loc_host = head_to_host(cls, loc)  # the one device->host sync
        return SearchOutput(cls_host, loc_host, features)

    def pool(self, features: Features, roi: Roi) -> list[torch.Tensor]:
        box = torch.tensor(roi, dtype=torch.float32, device=self.device)
        with torch.inference_mode(), self.autocast():
            return self.model.pool_cls_kernel(features, box)
