"""CUDA-graph search branch (``runtime/cuda_graph.py``).

On CPU the graph primitive is replaced by :class:`EagerStaticGraph`, which has a CUDA graph's
aliasing semantics -- outputs are fixed tensors that every replay overwrites in place, inputs are
read from fixed buffers -- so the wrapper's buffer handling (copy-in of crops and kernels, clones
of the outputs, one graph per crop size, the eager fall-back) is tested here. The real
``torch.cuda.CUDAGraph`` capture is tested where CUDA exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT
from core_fakes import iou_xywh, textured_sequence

from siam_tracker_ros.core.config import (
    AdaptiveSearchConfig,
    LostStateConfig,
    MechanismsConfig,
    OneMoreSearchConfig,
    OnlineUpdateConfig,
)
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.base import Kernels, SiameseModel
from siam_tracker_ros.runtime import RuntimeConfig
from siam_tracker_ros.runtime.cuda_graph import CudaGraphBackend
from siam_tracker_ros.runtime.torch_backend import TorchBackend

BUNDLED = ROOT / "siam_tracker_ros" / "weights" / "siammargin_nano.pt"
ALL_ON = MechanismsConfig(
    online_update=OnlineUpdateConfig(enabled=True),
    adaptive_search=AdaptiveSearchConfig(enabled=True),
    one_more_search=OneMoreSearchConfig(enabled=True),
    lost_state=LostStateConfig(enabled=True),
)


class EagerStaticGraph:
    """CPU stand-in for a CUDA graph: ``capture`` keeps ``fn`` and returns fixed output tensors;
    ``replay`` reruns ``fn`` on the static inputs and writes *into those same tensors*."""

    captures = 0

    def capture(self, fn: Callable[[], list[torch.Tensor]]) -> list[torch.Tensor]:
        EagerStaticGraph.captures += 1
        self.fn = fn
        self.outputs = [t.clone() for t in fn()]
        self.replays = 0
        return self.outputs

    def replay(self) -> None:
        self.replays += 1
        for static, fresh in zip(self.outputs, self.fn(), strict=True):
            static.copy_(fresh)


def _bundled(mechanisms: MechanismsConfig = ALL_ON) -> Tracker:
    base = load_tracker(BUNDLED, device="cpu", backend="torch")
    return Tracker(base.model, dataclasses.replace(base.config, mechanisms=mechanisms))


def _backend(
    model: SiameseModel, max_graphs: int = 8, factory: type = EagerStaticGraph
) -> CudaGraphBackend:
    return CudaGraphBackend(model, RuntimeConfig(), max_graphs=max_graphs, graph_factory=factory)


def _graphed(tracker: Tracker, max_graphs: int = 8) -> tuple[Tracker, CudaGraphBackend]:
    wrapped = _backend(tracker.model, max_graphs)
    return Tracker(tracker.model, tracker.config, runtime=wrapped), wrapped


def _u8(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _crop(size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, size, size), generator=g) * 255


@pytest.mark.parametrize("max_graphs", [8, 1])
def test_graphed_tracker_reproduces_the_eager_one(max_graphs: int) -> None:
    """Every mechanism on (two searches a frame, online update from stored features, adaptive
    sizes): boxes, scores and states equal the eager tracker's on a moving target; the base and
    adaptive sizes are captured when the tracker is built, once; with one graph the other size
    runs eagerly."""
    eager = _bundled()
    before = EagerStaticGraph.captures
    graphed, wrapped = _graphed(_bundled(), max_graphs)
    base, large = eager.config.instance_size, ALL_ON.adaptive_search.large_instance_size
    expected = [(1, 3, base, base), (1, 3, large, large)][:max_graphs]
    assert wrapped.captured_shapes == expected  # at construction, before any target
    frames, gt = textured_sequence(n_frames=24)
    eager.init(frames[0], gt[0])
    graphed.init(frames[0], gt[0])
    ious = []
    for frame, box in zip(frames[1:], gt[1:], strict=True):
        a, b = eager.track(frame), graphed.track(frame)
        np.testing.assert_allclose(b.box, a.box, rtol=0, atol=1e-6)
        assert b.score == pytest.approx(a.score, abs=1e-6)
        assert b.state == a.state
        np.testing.assert_allclose(b.response, a.response, atol=1e-6)
        ious.append(iou_xywh(b.box, box))
    assert graphed.policy("online_update").updates == eager.policy("online_update").updates > 0
    assert np.mean(ious) > 0.6, ious
    assert wrapped.captured_shapes == expected  # no capture while tracking
    if max_graphs == 1:
        assert wrapped.eager_shapes == {(1, 3, large, large)}
    # a second target reuses the graphs
    graphed.init(frames[5], gt[5])
    graphed.track(frames[6])
    assert wrapped.captured_shapes == expected
    assert EagerStaticGraph.captures - before == len(expected)


def _tiny_model() -> SiameseModel:
    from siam_tracker_ros.core.config import config_from_dict
    from siam_tracker_ros.models.checkpoint import load_checkpoint
    from siam_tracker_ros.models.registry import build_model

    state, cfg, _ = load_checkpoint(BUNDLED)
    model = build_model(config_from_dict(cfg).model)
    model.load_state_dict(state)
    return model.eval()


def test_outputs_are_not_aliased_and_kernels_are_read_at_replay() -> None:
    """A second search of the same size must not overwrite the first one's features (the tracker
    keeps them for the online update), and new kernels (online update) take effect without a new
    capture."""
    model = _tiny_model()
    wrapped = _backend(model)
    eager = TorchBackend(model, RuntimeConfig())
    kernels = wrapped.template(_u8(127, 0))
    x1, x2 = _u8(255, 1), _u8(255, 2)
    out1 = wrapped.search(x1, kernels)
    cls1 = out1.cls.copy()
    out2 = wrapped.search(x2, kernels)
    ref1, ref2 = eager.search(x1, kernels), eager.search(x2, kernels)
    torch.testing.assert_close(out1.features[0], ref1.features[0])
    np.testing.assert_allclose(out1.cls, ref1.cls, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out1.cls, cls1)  # not overwritten by the second replay
    np.testing.assert_allclose(out2.loc, ref2.loc, rtol=1e-5, atol=1e-5)
    # pooling reads the search's features, like the eager backend on its own features
    roi = (100.0, 100.0, 160.0, 170.0)
    torch.testing.assert_close(
        wrapped.pool(out2.features, roi)[0], eager.pool(ref2.features, roi)[0]
    )
    # online update: other cls kernels, same graph
    updated = Kernels(cls=[k * 0.5 + 0.1 for k in kernels.cls], loc=kernels.loc)
    out3 = wrapped.search(x1, updated)
    np.testing.assert_allclose(out3.cls, eager.search(x1, updated).cls, rtol=1e-5, atol=1e-6)
    assert not np.allclose(out3.cls, out1.cls)
    assert wrapped.captured_shapes == [(1, 3, 255, 255)]


def test_contract_errors() -> None:
    model = _tiny_model()
    with pytest.raises(ValueError, match="max_graphs"):
        _backend(model, max_graphs=-1)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="need CUDA"):
            CudaGraphBackend(model, RuntimeConfig())


class FailingGraph(EagerStaticGraph):
    def capture(self, fn: Callable[[], list[torch.Tensor]]) -> list[torch.Tensor]:
        raise RuntimeError("operation not permitted when stream is capturing")


def test_failed_capture_warns_once_and_tracks_eagerly() -> None:
    eager = _bundled()
    model = _bundled().model
    wrapped = _backend(model, factory=FailingGraph)
    frames, gt = textured_sequence(n_frames=6)
    eager.init(frames[0], gt[0])
    with pytest.warns(RuntimeWarning, match="capture of the search branch failed") as caught:
        graphed = Tracker(model, eager.config, runtime=wrapped)
        graphed.init(frames[0], gt[0])
        results = [(eager.track(f), graphed.track(f)) for f in frames[1:]]
    assert len(caught) == 1 and "not permitted" in str(wrapped.failure)
    assert wrapped.captured_shapes == [] and len(wrapped.eager_shapes) == 2
    for a, b in results:
        np.testing.assert_array_equal(a.box, b.box)


def test_cpu_tracker_ignores_the_cuda_graphs_setting() -> None:
    base = _bundled()
    settings = RuntimeConfig(cuda_graphs=True, device="cpu")
    runtime = Tracker(base.model, base.config, runtime_config=settings).runtime
    assert isinstance(runtime, TorchBackend) and not isinstance(runtime, CudaGraphBackend)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    ("config", "precision"),
    [("bundled", "fp32"), ("bundled", "fp16"), ("siamrpn_mobilev2_l234.yaml", "bf16")],
)
def test_cuda_graphs_match_eager_cuda(config: str, precision: str) -> None:
    """The real ``torch.cuda.CUDAGraph`` path against eager CUDA, every mechanism on."""
    torch.manual_seed(0)
    if config == "bundled":
        base = _bundled()
    else:
        path: Path = ROOT / "config" / "models" / config
        base = load_tracker(path, device="cpu", require_weights=False)
    cfg = dataclasses.replace(base.config, mechanisms=ALL_ON)
    on_cuda = RuntimeConfig(precision=precision, device="cuda")
    eager = Tracker(base.model, cfg, runtime_config=on_cuda)
    graphed = Tracker(
        base.model, cfg, runtime_config=dataclasses.replace(on_cuda, cuda_graphs=True)
    )
    assert isinstance(graphed.runtime, CudaGraphBackend)
    frames, gt = textured_sequence(n_frames=16)
    assert len(graphed.runtime.captured_shapes) == 2
    eager.init(frames[0], gt[0])
    graphed.init(frames[0], gt[0])
    tol = 1e-3 if precision == "fp32" else 0.5
    for frame in frames[1:]:
        a, b = eager.track(frame), graphed.track(frame)
        np.testing.assert_allclose(b.box, a.box, atol=tol)
        assert b.state == a.state
    assert graphed.policy("online_update").updates == eager.policy("online_update").updates
