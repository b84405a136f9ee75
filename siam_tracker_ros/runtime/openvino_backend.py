"""The OpenVINO backend (registry name ``openvino``; optional: ``pip install
'siam_tracker_ros[openvino]'``): the same exported ONNX graphs as ONNX Runtime, compiled by
OpenVINO for the CPU.

Why: many robots run Intel CPUs (often with an integrated GPU), where OpenVINO is the vendor's
runtime. It reads the exported ONNX files directly, so nothing is exported twice; each search
size gets its own compiled model (the dynamic ``search_size`` axis reshaped to a static one),
as ONNX Runtime pins the axis. Results equal ONNX Runtime's to float round-off
(``test/models/test_openvino_backend.py``); speed side by side in ``bench/bench_speed.py``.
Like the ONNX Runtime backend on the CPU it works on NumPy arrays and never imports PyTorch.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siam_tracker_ros.models.contract import SEARCH_INPUT, TEMPLATE_INPUT
from siam_tracker_ros.runtime.exported import ExportedModel
from siam_tracker_ros.runtime.exported_backend import (
    ExportedGraphBackend,
    HostDevice,
    exported_graphs,
)
from siam_tracker_ros.runtime.host_pool import HostPool

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel
    from siam_tracker_ros.runtime.base import InferenceBackend
    from siam_tracker_ros.runtime.registry import BuildRequest

__all__ = ["OpenVinoBackend", "build"]


def build(request: BuildRequest) -> InferenceBackend:
    """Registry builder: the request's exported graphs (or the model exported, through the disk
    cache) compiled by OpenVINO for the CPU."""
    from siam_tracker_ros.runtime.registry import get_backend

    exported, owned = exported_graphs(request, get_backend("openvino").cache_tag())
    return OpenVinoBackend(
        exported,
        torch_model=request.model,
        threads=request.config.threads,
        precision=request.config.precision,
        pool=request.pool,
        owned_dir=owned,
    )


class OpenVinoBackend(ExportedGraphBackend):
    """Exported graphs compiled by OpenVINO (``CPU`` device, latency hint, ``threads``
    inference threads; 0 = OpenVINO's default).

    ``precision``: the inference precision, always asked for explicitly: ``fp32`` (OpenVINO's
    own default is bf16 on CPUs with AMX, which would make results differ from ONNX Runtime's
    beyond round-off without a word) or ``bf16`` (on CPUs with native bf16 -- AVX512_BF16 or AMX
    -- the convolutions run faster; elsewhere OpenVINO emulates it slowly; ``fp16`` is taken as
    bf16 on a CPU)."""

    def __init__(
        self,
        exported: ExportedModel,
        torch_model: SiameseModel | None = None,
        threads: int = 1,
        precision: str = "fp32",
        pool: HostPool | None = None,
        owned_dir: str | Path | None = None,
    ) -> None:
        import openvino as ov

        super().__init__(exported, torch_model, pool, owned_dir)
        self.device = HostDevice()
        self.threads = threads
        self.precision = "fp32" if precision == "fp32" else "bf16"
        self._core = ov.Core()
        #: per graph: its infer request, its output count and a lock -- a request holds one
        #: run's buffers, and the tracker may run two searches at once (a LOST frame's
        #: re-detection crop on a second thread): runs of one graph take turns, two graphs run
        #: side by side
        self._requests: dict[int, tuple[Any, int, threading.Lock]] = {}
        self._compile_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"OpenVinoBackend(device=cpu, threads={self.threads}, precision={self.precision}, "
            f"head_type={self.head_type}, "
            f"levels={self.levels}, search_graphs={sorted(self.exported.search_paths)})"
        )

    def compiled_precisions(self) -> list[str]:
        """The inference precision each compiled graph runs at, as OpenVINO reports it (``f32``
        unless ``bf16`` was asked for and the CPU runs it natively)."""
        with self._compile_lock:
            entries = list(self._requests.values())
        hints = [
            request.get_compiled_model().get_property("INFERENCE_PRECISION_HINT")
            for request, _, _ in entries
        ]
        return [h.get_type_name() if hasattr(h, "get_type_name") else str(h) for h in hints]

    def is_prepared(self, size: int) -> bool:
        return size in self._requests

    def _request(
        self, key: int, path: Path, shapes: dict[str, list[int]] | None
    ) -> tuple[Any, int, threading.Lock]:
        with self._compile_lock:
            if key not in self._requests:
                model = self._core.read_model(str(path))
                if shapes:
                    model.reshape(shapes)
                config: dict[str, Any] = {
                    "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_PRECISION_HINT": "f32" if self.precision == "fp32" else "bf16",
                }
                if self.threads > 0:
                    config["INFERENCE_NUM_THREADS"] = self.threads
                compiled = self._core.compile_model(model, "CPU", config)
                self._requests[key] = (
                    compiled.create_infer_request(),
                    len(compiled.outputs),
                    threading.Lock(),
                )
            return self._requests[key]

    @staticmethod
    def _infer(entry: tuple[Any, int, threading.Lock], feeds: dict[str, Any]) -> list[Any]:
        request, count, lock = entry
        with lock:
            request.infer(feeds)
            # the request reuses its output buffers on the next run: copy what the tracker keeps
            return [request.get_output_tensor(i).data.copy() for i in range(count)]

    def run_template(self, crop: Any) -> list[Any]:
        return self._infer(
            self._request(-1, self.exported.template_path, None), {TEMPLATE_INPUT: crop}
        )

    def run_search(self, size: int, path: Path, feeds: dict[str, Any]) -> list[Any]:
        shapes = None
        if self.exported.dynamic and size not in self.exported.search_paths:
            shapes = {SEARCH_INPUT: [1, 3, size, size]}
        return self._infer(self._request(size, path, shapes), feeds)
