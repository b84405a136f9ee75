"""CPU tracking-step speed of this tracker beside OpenCV's trackers, on real sequences, one run.

One command prints one table: every configuration (ours: PyTorch vs ONNX Runtime, SiamMargin
mechanisms off / those of nanotrack_v2.yaml / plus the online update, and the bundled model with
its own config as the node runs it; peers: OpenCV CSRT, KCF, NanoTrack v2
through ``cv2.TrackerNano`` and VitTrack) is timed in the same process on the same decoded frames
of ``<data>/sequences/*``, initialised on the ground-truth box of frame 1. Only ``track`` /
``update`` is timed (crop + network + post-processing + mechanisms); decoding and ``init`` are
not. Configurations are interleaved (repeat -> sequence -> configuration), so a change in machine
load hits all of them alike, and every ratio comes from this run. Peak memory is the peak RSS of
a separate process per configuration that builds the tracker and tracks one sequence.

Threads: OpenCV's peers use OpenCV's default (one thread per core); ours use ``--threads``
(default 1, the library default). ``cv2.TrackerNano`` is also timed at 1 thread, so every row
has a ratio to it at OpenCV's default and one to it at the row's own thread count.

    python bench/bench_speed.py                        # full table, markdown on stdout
    python bench/bench_speed.py --frames 60 --repeats 1 --no-memory   # quick look
    python bench/bench_speed.py --only node --no-memory   # issue 28: the bundled model as the
                                                       #   node runs it (1, 2, adaptive threads;
                                                       #   with and without the search economy)
                                                       #   beside cv2.TrackerNano (default, 1)
    python bench/bench_speed.py --only node --compete 1   # the same beside a busy-looping process
    python bench/bench_speed.py --only node --rate 30 --frames 100   # paced like a 30 Hz camera
    python bench/bench_speed.py --graph-sizes 255,223,191  # the search graph alone, per crop size
    python bench/bench_speed.py --device cuda          # + GPU rows (ResNet-50 SiamMargin, light
                                                       #   models; eager vs CUDA graphs)

GPU rows (``--device cuda``) run our PyTorch path on the GPU (fp16 autocast, channels_last,
cached template kernels), each with and without CUDA graphs (``tracker.cuda_graphs``), beside the
same CPU peers, and add the peak GPU memory (``torch.cuda.max_memory_allocated`` of a separate
process that tracks one sequence). The ResNet-50 rows use ``config/models/siammargin_r50.yaml``
with ``--r50-weights`` (pysot's model.pth) or random weights; how many searches a frame took is
printed for every row of ours, since with random weights the mechanisms search as real weights
would not.

``fps`` = frames / summed step time of one repeat, median over repeats; ``ms p50/p95`` over all
frames of all repeats. Absolute figures drift with machine load (the load average is printed
beside them); ratios from one run much less. A second table gives each row's CPU time per step:
the calling thread's (the whole cost of a 1-thread row, without the waits for a busy core: it
compares 1-thread rows on a loaded machine) and the process's (spinning workers included).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np
import torch

from siam_tracker_ros.core.defaults import BUNDLED_CHECKPOINT
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.tracker import usable_cores

if TYPE_CHECKING:
    from siam_tracker_ros.core.config import TrackerConfig
    from siam_tracker_ros.core.tracker import Tracker

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SIAM_SHARED_DIR", ROOT.parent / "shared"))
NANO_CONFIG = ROOT / "config" / "models" / "nanotrack_v2.yaml"
R50_CONFIG = ROOT / "config" / "models" / "siammargin_r50.yaml"
NANO_WEIGHTS = SHARED / "weights" / "nanotrack" / "pretrained_nanotrackv2.pth"
# the bundled default model, the one the node, CLI and API load
LIGHT_CHECKPOINT = BUNDLED_CHECKPOINT


class StepTracker(Protocol):
    def init(self, image: np.ndarray, box: Any) -> None: ...

    def track(self, image: np.ndarray) -> Any: ...


@dataclass(frozen=True)
class Variant:
    """One configuration. ``threads``: the CPU threads it computes with (OpenCV's for the peers,
    ONNX Runtime's intra-op threads for ours). ``cv2_threads`` is set around its steps only
    (OpenCV's thread count is process-wide); ``None`` keeps OpenCV's default."""

    key: str
    label: str
    build: Callable[[], StepTracker]
    threads: int
    cv2_threads: int | None = None
    device: str = "cpu"


def _with_nano_mechanisms(source: str) -> tuple[Tracker, TrackerConfig]:
    """``source`` "nanotrack" (config + released weights) or a checkpoint path, loaded on the CPU
    with the PyTorch backend, and its tracker config with the mechanisms of ``nanotrack_v2.yaml``
    in place of its own."""
    from siam_tracker_ros.core.config import load_config

    if source == "nanotrack":
        base = load_tracker(
            NANO_CONFIG,
            weights=NANO_WEIGHTS,
            device="cpu",
            backend="torch",
            require_weights=False,
        )
    else:
        base = load_tracker(source, device="cpu", backend="torch")
    shipped = load_config(NANO_CONFIG).tracker.mechanisms
    return base, dataclasses.replace(base.config, mechanisms=shipped)


def _ours(
    source: str,
    runtime: str,
    mechanisms: str,
    threads: int,
    overrides: tuple[tuple[str, Any], ...] = (),
    adaptive: bool = False,
    background: bool = True,
) -> Callable[[], StepTracker]:
    """Our tracker: ``source`` "nanotrack" (config + released weights) or a checkpoint path.

    ``threads``: ONNX Runtime intra-op threads (PyTorch's are set once for the process).
    ``mechanisms`` "own": the checkpoint exactly as the node loads it (``core.loading.
    load_tracker``: its own tracker config and ``runtime:`` section, only the threads set, as
    the node's ``model.num_threads`` does); ``overrides``: dotted ``tracker:`` keys changed on
    top (as ``siam-tracker evaluate``'s ``+key=value``), for a mechanism not yet in the bundled
    config. ``adaptive``: the same graphs on an ONNX Runtime backend that picks 1 or ``threads``
    intra-op threads per search from its recent run times (``runtime/thread_choice.py``).
    ``background``: a LOST frame's re-detection crop and a tracked frame's deferred
    verification on a second thread (``runtime.background_searches``, on as shipped; off:
    everything on the calling thread).
    """

    def build() -> StepTracker:
        from siam_tracker_ros.core.config import MechanismsConfig
        from siam_tracker_ros.core.tracker import Tracker
        from siam_tracker_ros.runtime import RuntimeConfig

        if mechanisms == "own":
            tracker = load_tracker(
                source,
                device="cpu",
                backend=None if runtime == "onnxruntime" else runtime,
                threads=1 if adaptive else threads,
                background_searches=background,
            )
            cfg = tracker.config
            backend = tracker.runtime
            if adaptive:
                from siam_tracker_ros.runtime.onnx_backend import (
                    OnnxRuntimeBackend,
                    OnnxRuntimeOptions,
                )

                assert isinstance(backend, OnnxRuntimeBackend)
                options = OnnxRuntimeOptions(intra_op_threads=threads, adaptive_threads=True)
                backend = OnnxRuntimeBackend(
                    backend.exported, options=options, pool=backend.host_pool
                )
            if overrides:
                from siam_tracker_ros.evaluation.runner import apply_overrides

                # the same network, other tracking settings (evaluate's +key=value)
                cfg = apply_overrides(cfg, overrides)
            if adaptive or overrides:
                tracker = Tracker(
                    tracker.model, cfg, runtime=backend, background_searches=background
                )
            return tracker
        # "config": the mechanisms of config/models/nanotrack_v2.yaml for every model, so rows
        # differ only in model and runtime
        base, cfg = _with_nano_mechanisms(source)
        if mechanisms == "off":
            cfg = dataclasses.replace(cfg, mechanisms=MechanismsConfig())
        elif mechanisms == "config+online":
            online = dataclasses.replace(cfg.mechanisms.online_update, enabled=True)
            cfg = dataclasses.replace(
                cfg, mechanisms=dataclasses.replace(cfg.mechanisms, online_update=online)
            )
        elif mechanisms != "config":
            raise ValueError(mechanisms)
        settings = RuntimeConfig(backend=runtime, device="cpu", threads=threads)
        return Tracker(base.model, cfg, runtime_config=settings)

    return build


#: the search economy (``core/policies/search_economy.py``) as recommended for the bundled model
#: (docs/speed.md): the rows "light-economy*" are the bundled model with this section switched on
ECONOMY: tuple[tuple[str, Any], ...] = (
    ("mechanisms.search_economy.enabled", True),
    ("mechanisms.search_economy.instance_size", 223),
    ("mechanisms.search_economy.steady_frames", 5),
)

#: ``--only`` shorthands
PRESETS = {
    # issue 28's rows: the bundled model as the node runs it (1 and 2 threads, with and without
    # the search economy) beside cv2.TrackerNano at OpenCV's default threads and at 1 thread
    "node": "cv2nano,cv2nano-1t,light-own,light-own-1c,light-own-2t,light-economy,"
    "light-economy-2t,light-own-auto,light-economy-auto,light-own-2t-fg,light-own-auto-fg,"
    "light-own-auto-at-once",
    # issue 25: the bundled model on each exported-graph backend, at equal threads
    "backends": "cv2nano-1t,light-own,light-openvino",
}


def _gpu(
    source: str, device: str, graphs: bool, r50_weights: Path | None
) -> Callable[[], StepTracker]:
    """Our PyTorch path on a GPU: ``source`` "r50" (``siammargin_r50.yaml``: fp16, its own
    mechanisms), "nanotrack" (released v2 weights) or a checkpoint path (both with the mechanisms
    of ``nanotrack_v2.yaml``, as in the CPU rows, at fp16); ``graphs``: ``tracker.cuda_graphs``."""

    def build() -> StepTracker:
        from siam_tracker_ros.core.config import load_config
        from siam_tracker_ros.core.tracker import Tracker
        from siam_tracker_ros.runtime import RuntimeConfig

        if source == "r50":
            base = load_tracker(
                R50_CONFIG,
                weights=r50_weights,
                device="cpu",
                backend="torch",
                require_weights=False,
            )
            cfg = base.config
            precision = load_config(R50_CONFIG).runtime.precision
        else:
            base, cfg = _with_nano_mechanisms(source)
            precision = "fp16"
        settings = RuntimeConfig(
            backend="torch", device=device, precision=precision, cuda_graphs=graphs
        )
        return Tracker(base.model, cfg, runtime_config=settings)

    return build


def gpu_variants(device: str, light: Path | None, r50_weights: Path | None) -> list[Variant]:
    """Rows of ours on ``device`` (CUDA), eager and with CUDA graphs."""
    name = torch.cuda.get_device_name(torch.device(device))
    dev = f"{device} ({name})"
    weights = "pysot weights" if r50_weights else "random weights"
    sources = [("r50", f"ours SiamMargin ResNet-50 ({weights}), PyTorch fp16, its mechanisms")]
    sources.append(("nanotrack", "ours NanoTrack v2, PyTorch fp16, mechanisms of v2.yaml"))
    if light is not None:
        sources.append((str(light), f"ours {light.name}, PyTorch fp16, mechanisms of v2.yaml"))
    out = []
    for source, label in sources:
        key = "gpu-" + ("light" if source == str(light) else source)
        for graphs in (False, True):
            out.append(
                Variant(
                    key + ("-graphs" if graphs else ""),
                    label + (", CUDA graphs" if graphs else ", eager"),
                    _gpu(source, device, graphs, r50_weights),
                    1,
                    device=dev,
                )
            )
    return out


def _peer(name: str) -> Callable[[], StepTracker]:
    def build() -> StepTracker:
        from siam_tracker_ros.evaluation.peers import build_peer

        return build_peer(name, SHARED / "weights")

    return build


def shipped_mechanisms() -> str:
    """Label of the mechanisms ``config/models/nanotrack_v2.yaml`` enables (the rows that
    compare models and runtimes share them; the bundled model's own row keeps its own)."""
    from siam_tracker_ros.core.config import load_config
    from siam_tracker_ros.core.policies import POLICIES

    mech = load_config(NANO_CONFIG).tracker.mechanisms
    names = [name for name in POLICIES if getattr(mech, name).enabled]
    return "mechanisms " + (" + ".join(names) if names else "none") + " (of nanotrack_v2.yaml)"


def variants(
    threads: int, light: Path | None, economy: tuple[tuple[str, Any], ...] = ()
) -> list[Variant]:
    """Every CPU row; ``economy``: the search economy section of the "light-economy*" rows
    (default :data:`ECONOMY`)."""
    economy = economy or ECONOMY
    cores = usable_cores()
    mech = shipped_mechanisms()
    alt = 2 if threads == 1 else 1  # the other thread count, for one ONNX Runtime row
    cpus = cv2.getNumberOfCPUs()
    out = [
        Variant("csrt", "OpenCV CSRT", _peer("csrt"), cpus),
        Variant("kcf", "OpenCV KCF", _peer("kcf"), cpus),
        Variant(
            "cv2nano",
            f"NanoTrack v2, cv2.TrackerNano (OpenCV dnn, its default {cpus} threads)",
            _peer("nanotrack"),
            cpus,
        ),
        Variant(
            "cv2nano-1t",
            "NanoTrack v2, cv2.TrackerNano (OpenCV dnn, 1 thread)",
            _peer("nanotrack"),
            1,
            cv2_threads=1,
        ),
        Variant("vittrack", "VitTrack, cv2.TrackerVit", _peer("vittrack"), cpus),
        Variant(
            "torch-off",
            "ours NanoTrack v2, PyTorch, mechanisms off",
            _ours("nanotrack", "torch", "off", threads),
            threads,
        ),
        Variant(
            "torch-config",
            f"ours NanoTrack v2, PyTorch, {mech}",
            _ours("nanotrack", "torch", "config", threads),
            threads,
        ),
        Variant(
            "ort-off",
            "ours NanoTrack v2, ONNX Runtime, mechanisms off",
            _ours("nanotrack", "onnxruntime", "off", threads),
            threads,
        ),
        Variant(
            "ort-config",
            f"ours NanoTrack v2, ONNX Runtime, {mech}",
            _ours("nanotrack", "onnxruntime", "config", threads),
            threads,
        ),
        Variant(
            "ort-online",
            f"ours NanoTrack v2, ONNX Runtime, {mech} + online update",
            _ours("nanotrack", "onnxruntime", "config+online", threads),
            threads,
        ),
        Variant(
            f"ort-config-{alt}t",
            f"ours NanoTrack v2, ONNX Runtime ({alt} thread{'s' if alt > 1 else ''}), {mech}",
            _ours("nanotrack", "onnxruntime", "config", alt),
            alt,
        ),
    ]
    if light is not None:
        eco = (
            "its own config + search economy ("
            + ", ".join(f"{k.rsplit('.', 1)[1]} {v}" for k, v in economy[1:])
            + ")"
        )
        # as shipped a LOST frame's re-detection crop and a tracked frame's deferred check run
        # on a second core beside the search (runtime.background_searches): such a row computes
        # with one thread more
        more = 1 if cores >= 2 else 0

        def threads_label(n: int, beside: str = "") -> str:
            label = f"{n} thread{'s' if n > 1 else ''}"
            return label + (f" + 1 for {beside}" if beside and more else "")

        for n in (threads, alt):
            tag = "" if n == threads else f"-{n}t"
            thr = threads_label(n, "re-detection crops and checks")
            out += [
                Variant(
                    f"light-own{tag}",
                    f"ours {light.name}, ONNX Runtime ({thr}), its own config (as the node "
                    "runs it)",
                    _ours(str(light), "onnxruntime", "own", n),
                    n + more,
                ),
                Variant(
                    f"light-economy{tag}",
                    f"ours {light.name}, ONNX Runtime ({thr}), {eco}",
                    _ours(str(light), "onnxruntime", "own", n, economy),
                    n + more,
                ),
            ]
        out.append(
            Variant(
                "light-own-at-once",
                f"ours {light.name}, ONNX Runtime ({threads_label(threads, 're-detection crops')}"
                "), its own config with every check at once (deferred_checks off: the same boxes)",
                _ours(
                    str(light),
                    "onnxruntime",
                    "own",
                    threads,
                    (("mechanisms.longterm.deferred_checks", False),),
                ),
                threads + more,
            )
        )
        out.append(
            Variant(
                "light-own-1c",
                f"ours {light.name}, ONNX Runtime (1 thread, background searches off: one core), "
                "its own config",
                _ours(str(light), "onnxruntime", "own", 1, background=False),
                1,
            )
        )
        many = max(threads, alt)
        out += [
            Variant(
                f"light-own-{many}t-fg",
                f"ours {light.name}, ONNX Runtime ({many} threads, background searches off: "
                "both cores for each search), its own config",
                _ours(str(light), "onnxruntime", "own", many, background=False),
                many,
            ),
            Variant(
                "light-own-auto-at-once",
                f"ours {light.name}, ONNX Runtime (adaptive: 1 or {many} threads, + 1 for "
                "re-detection crops), its own config with every check at once",
                _ours(
                    str(light),
                    "onnxruntime",
                    "own",
                    many,
                    (("mechanisms.longterm.deferred_checks", False),),
                    adaptive=True,
                ),
                many,
            ),
            Variant(
                "light-own-auto-fg",
                f"ours {light.name}, ONNX Runtime (adaptive: 1 or {many} threads, background "
                "searches off), its own config",
                _ours(str(light), "onnxruntime", "own", many, adaptive=True, background=False),
                many,
            ),
        ]
        if importlib.util.find_spec("openvino") is not None:
            out.append(
                Variant(
                    "light-openvino",
                    f"ours {light.name}, OpenVINO ({threads_label(threads)}), its own config "
                    "(as the node runs it)",
                    _ours(str(light), "openvino", "own", threads),
                    threads,
                )
            )
        out += [
            Variant(
                f"light-{name}-auto",
                f"ours {light.name}, ONNX Runtime (adaptive: 1 or {many} threads), {label}",
                _ours(str(light), "onnxruntime", "own", many, extra, adaptive=True),
                many,
            )
            for name, label, extra in (
                ("own", "its own config", ()),
                ("economy", eco, economy),
            )
        ]
        out += [
            Variant(
                "light-ort",
                f"ours {light.name}, ONNX Runtime, {mech}",
                _ours(str(light), "onnxruntime", "config", threads),
                threads,
            ),
            Variant(
                "light-ort-online",
                f"ours {light.name}, ONNX Runtime, {mech} + online update",
                _ours(str(light), "onnxruntime", "config+online", threads),
                threads,
            ),
        ]
    return out


def load_frames(seq_dir: Path, max_frames: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Decoded frames (up to ``max_frames``; 0 = all) and the first ground-truth box."""
    from siam_tracker_ros.datasets import load_sequence

    seq = load_sequence(seq_dir)
    n = min(len(seq), max_frames) if max_frames > 0 else len(seq)
    return [seq.frame(i) for i in range(n)], seq.init_box


class StepStats:
    """What our tracker's steps did, from its public per-step record (``Tracker.last_step``):
    network searches (one a frame, plus the one-more searches; the adaptive search changes their
    size, not their number) and the time inside the online update (pooling + moving average).

    The update also changes what the tracker does next (new kernels -> other scores -> other
    one-more searches, lost-state widenings, box sizes), so a plain "with vs without" step time
    mixes its cost with its effect; the time inside the update is its cost alone.
    """

    def __init__(self) -> None:
        self.searches = 0
        self.steps = 0
        self.update_seconds = 0.0
        self.updates = 0
        #: seconds per phase of the step (crop, network, decode, presence, online_update, ...)
        self.phases: dict[str, float] = {}
        #: search economy: steps whose first search was the small crop, and those repeated at
        #: full size in the same frame (``StepInfo.policies["search_economy"]``)
        self.economical = 0
        self.researched = 0
        #: wall seconds of the steps whose result was present (a box a follower acts on: TRACKING
        #: or AMBIGUOUS) and of the others (LOST: nothing published, the command is zero)
        self.present_seconds: list[float] = []
        self.absent_seconds: list[float] = []

    def record(self, step: Any, seconds: float, present: bool) -> None:
        (self.present_seconds if present else self.absent_seconds).append(seconds)
        self.steps += 1
        self.searches += len(step.searches)
        economy = step.policies.get("search_economy", {})
        self.economical += "instance_size" in economy
        self.researched += "researched" in economy
        for phase, seconds in step.timings.items():
            if phase != "total":
                self.phases[phase] = self.phases.get(phase, 0.0) + seconds
        if step.online_update:
            self.updates += 1
            self.update_seconds += step.timings["online_update"]


def time_steps(
    tracker: StepTracker,
    frames: list[np.ndarray],
    box: np.ndarray,
    stats: StepStats | None = None,
    cpu: list[tuple[float, float]] | None = None,
    period: float = 0.0,
) -> list[float]:
    """Wall seconds of each ``track`` call; with ``cpu``, also appends each call's CPU seconds
    there: ``(calling thread, whole process)``. A 1-thread configuration computes on the calling
    thread only, so its thread CPU time is its cost with the waits for a busy core left out:
    on a loaded machine it compares 1-thread rows where wall times cannot. ``period`` (``--rate``):
    a step starts ``period`` seconds after the one before, as frames come from a camera, instead
    of back to back."""
    tracker.init(frames[0], box)
    times = []
    for frame in frames[1:]:
        c0, p0 = time.thread_time(), time.process_time()
        t0 = time.perf_counter()
        result = tracker.track(frame)
        times.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append((time.thread_time() - c0, time.process_time() - p0))
        if stats is not None:
            present = bool(getattr(result, "present", True))
            stats.record(tracker.last_step, times[-1], present)  # type: ignore[attr-defined]
        if period > 0.0:  # after the step's readings: the idle wait is not the step's CPU
            time.sleep(max(0.0, t0 + period - time.perf_counter()))
    return times


@contextlib.contextmanager
def opencv_threads(n: int | None) -> Iterator[None]:
    """OpenCV's (process-wide) thread count set to ``n`` inside the block (``None``: unchanged)."""
    if n is None:
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


@contextlib.contextmanager
def competing_processes(n: int) -> Iterator[None]:
    """``n`` busy-looping processes at this process's priority for the duration of the block: a
    known competitor for the cores (a robot's camera driver, the rest of ROS), so the rows show
    what each configuration does when it does not have the machine to itself."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(n, 0))]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def child_memory(key: str, args: argparse.Namespace) -> None:
    """``--child KEY``: build one configuration, track one sequence, print peak RSS (MiB)."""
    torch.set_num_threads(args.threads)
    variant = {v.key: v for v in all_variants(args)}[key]
    frames, box = load_frames(sorted(args.data.iterdir())[0], args.frames)
    with opencv_threads(variant.cv2_threads):
        tracker = variant.build()
        time_steps(tracker, frames, box)
    from siam_tracker_ros.process_memory import peak_rss_mib

    gpu = None
    if variant.device != "cpu":
        gpu = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps({"key": key, "peak_rss_mib": peak_rss_mib(), "peak_gpu_mib": gpu}))


def economy_overrides(text: str) -> tuple[tuple[str, Any], ...]:
    """``--economy "instance_size=191,min_presence=0.8"`` -> the search economy section of the
    "light-economy*" rows (switched on; keys not given keep :data:`ECONOMY`'s values)."""
    if not text:
        return ECONOMY
    import yaml

    values = dict(ECONOMY)
    for item in text.split(","):
        key, _, value = item.partition("=")
        values[f"mechanisms.search_economy.{key.strip()}"] = yaml.safe_load(value)
    return tuple(values.items())


def all_variants(args: argparse.Namespace) -> list[Variant]:
    out = variants(args.threads, _light(args), economy_overrides(args.economy))
    if args.device != "cpu":
        out += gpu_variants(args.device, _light(args), args.r50_weights)
    return out


def measure_memory(key: str, args: argparse.Namespace) -> dict[str, float | None]:
    """Peak RSS (and peak GPU memory for GPU rows) of a process tracking one sequence (MiB)."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        key,
        "--data",
        str(args.data),
        "--frames",
        str(args.frames),
        "--threads",
        str(args.threads),
        "--device",
        args.device,
    ]
    if args.light is not None:
        cmd += ["--light", str(args.light)]
    if args.r50_weights is not None:
        cmd += ["--r50-weights", str(args.r50_weights)]
    if args.economy:
        cmd += ["--economy", args.economy]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"  memory of {key}: failed ({exc})", file=sys.stderr)
        return {}
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            found = json.loads(line)
            return {k: found.get(k) for k in ("peak_rss_mib", "peak_gpu_mib")}
    return {}


def _light(args: argparse.Namespace) -> Path | None:
    if args.light is not None:
        return Path(args.light) if str(args.light) else None
    return LIGHT_CHECKPOINT if LIGHT_CHECKPOINT.is_file() else None


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores, {platform.system()}"
    if torch.cuda.is_available():
        gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        desc += f"; GPU {gpus} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return desc


def graph_sizes(sizes: list[int], threads: int, runs: int = 200) -> int:
    """``--graph-sizes``: what the network costs per search-crop size (the search economy's
    lever), the sizes interleaved run by run so load hits them alike; wall and thread CPU ms."""
    tracker = load_tracker(device="cpu", threads=threads)
    runtime = tracker.runtime
    rng = np.random.default_rng(0)
    kernels = runtime.template(rng.integers(0, 256, (127, 127, 3), dtype=np.uint8))
    crops = {s: rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for s in sizes}
    wall: dict[int, list[float]] = {s: [] for s in sizes}
    cpu: dict[int, list[float]] = {s: [] for s in sizes}
    for s in sizes:  # sessions made and warmed before timing
        runtime.search(crops[s], kernels)
    load = os.getloadavg()[0]
    for _ in range(runs):
        for s in sizes:
            c0, t0 = time.thread_time(), time.perf_counter()
            runtime.search(crops[s], kernels)
            wall[s].append(time.perf_counter() - t0)
            cpu[s].append(time.thread_time() - c0)
    base = statistics.median(wall[sizes[0]])
    print(
        f"search graph of {LIGHT_CHECKPOINT.name}, {threads} thread(s), {runs} runs per size, "
        f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; {machine()}"
    )
    print(
        "| crop px | score map | ms p10 | ms p50 | thread CPU ms p50 | p50 / first size | area "
        "/ first size |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for s in sizes:
        w = np.array(wall[s]) * 1e3
        n = tracker.config.score_size(s, tracker.stride)
        print(
            f"| {s} | {n} x {n} | {np.percentile(w, 10):.2f} | {np.median(w):.2f} | "
            f"{1e3 * statistics.median(cpu[s]):.2f} | {statistics.median(wall[s]) / base:.2f} | "
            f"{(s / sizes[0]) ** 2:.2f} |"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "sequences")
    ap.add_argument(
        "--frames",
        type=int,
        default=0,
        help="frames per sequence, from the first (default 0: all, i.e. the whole split, so the "
        "mix of small and large targets is the split's own)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads of our runtimes (default 1, the library default; one extra ONNX Runtime "
        "row runs with 2, or with 1 if this is not 1); OpenCV's peers keep their default",
    )
    ap.add_argument(
        "--light",
        default=None,
        help=f"light-model checkpoint (default {LIGHT_CHECKPOINT.relative_to(ROOT)} "
        "if present; '' to skip)",
    )
    ap.add_argument(
        "--device",
        default="cpu",
        help="cpu (default), or cuda / cuda:N to add the GPU rows of ours (CPU peers stay)",
    )
    ap.add_argument(
        "--r50-weights",
        type=Path,
        default=None,
        help="pysot's siamrpn_r50_l234_dwxcorr model.pth for the ResNet-50 GPU rows "
        "(default: random weights)",
    )
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated configuration keys, or a preset: "
        + "; ".join(f"{k} = {v}" for k, v in PRESETS.items()),
    )
    ap.add_argument(
        "--economy",
        default="",
        help="search economy settings of the light-economy* rows, e.g. "
        "'instance_size=191,min_presence=0.8' (default: "
        + ", ".join(f"{k.rsplit('.', 1)[1]}={v}" for k, v in ECONOMY[1:])
        + ")",
    )
    ap.add_argument(
        "--compete",
        type=int,
        default=0,
        help="busy-looping processes to run beside the timed steps (default 0): every row "
        "measured with a known competitor for the cores",
    )
    ap.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="camera rate in Hz: each step starts 1/RATE s after the one before (the CPU idles "
        "between frames as on a robot) instead of back to back (default 0: back to back)",
    )
    ap.add_argument("--no-memory", action="store_true", help="skip the per-process RSS column")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument(
        "--graph-sizes",
        default="",
        help="instead of the table: the bundled model's search graph alone (ONNX Runtime, "
        "--threads), ms per run at each of these comma-separated crop sizes, interleaved",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child_memory(args.child, args)
        return 0
    if args.graph_sizes:
        return graph_sizes([int(v) for v in args.graph_sizes.split(",")], args.threads)
    if not args.data.is_dir():
        print(f"{args.data}: no sequences (set SIAM_SHARED_DIR or --data)", file=sys.stderr)
        return 2
    if args.device != "cpu":
        try:
            from siam_tracker_ros.runtime import resolve_device

            if resolve_device(args.device).type != "cuda":
                raise ValueError(f"--device {args.device}: expected cpu or cuda[:N]")
        except (ValueError, RuntimeError) as exc:
            print(f"{exc}", file=sys.stderr)
            return 2
    cv2.setNumThreads(cv2.getNumberOfCPUs())  # OpenCV peers at their default
    # process-wide, so set once: a per-configuration setting would leak into the others
    torch.set_num_threads(args.threads)
    table = all_variants(args)
    if args.only:
        keep = set(",".join(PRESETS.get(k, k) for k in args.only.split(",")).split(","))
        table = [v for v in table if v.key in keep]
    load_before = os.getloadavg()
    built: dict[str, StepTracker] = {}
    by_variant = {v.key: v for v in table}
    for v in table:
        try:
            with opencv_threads(v.cv2_threads):
                built[v.key] = v.build()
        except (ValueError, RuntimeError, FileNotFoundError, OSError) as exc:
            print(f"skipping {v.label}: {exc}", file=sys.stderr)
    stats = {k: StepStats() for k, t in built.items() if hasattr(t, "last_step")}
    seq_dirs = sorted(p for p in args.data.iterdir() if p.is_dir())
    times: dict[str, list[list[float]]] = {k: [[] for _ in range(args.repeats)] for k in built}
    cpu_times: dict[str, list[tuple[float, float]]] = {k: [] for k in built}
    n_frames = 0
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    with competing_processes(args.compete):
        for seq_dir in seq_dirs:
            frames, box = load_frames(seq_dir, args.frames)
            n_frames += len(frames) - 1
            for rep in range(args.repeats):
                for key, tracker in built.items():
                    with opencv_threads(by_variant[key].cv2_threads):
                        times[key][rep] += time_steps(
                            tracker, frames, box, stats.get(key), cpu_times[key], period
                        )
            print(f"  {seq_dir.name}: {len(frames)} frames", file=sys.stderr)
    load_after = os.getloadavg()
    memory = {} if args.no_memory else {k: measure_memory(k, args) for k in built}
    gpu_rows = any(by_variant[k].device != "cpu" for k in built)

    rows = []
    for v in table:
        if v.key not in built:
            continue
        reps = times[v.key]
        fps = statistics.median(len(r) / sum(r) for r in reps)
        flat = np.array([t for r in reps for t in r]) * 1e3
        rows.append(
            {
                "key": v.key,
                "label": v.label,
                "threads": v.threads,
                "fps": fps,
                "ms_p50": float(np.percentile(flat, 50)),
                "ms_p95": float(np.percentile(flat, 95)),
                "device": v.device,
                "peak_rss_mib": memory.get(v.key, {}).get("peak_rss_mib"),
                "peak_gpu_mib": memory.get(v.key, {}).get("peak_gpu_mib"),
                "cpu_thread_ms": 1e3 * float(np.mean([c[0] for c in cpu_times[v.key]])),
                "cpu_process_ms": 1e3 * float(np.mean([c[1] for c in cpu_times[v.key]])),
            }
        )
    by_key = {r["key"]: r for r in rows}
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(
        f"\nmachine: {machine()}; {stamp}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    if args.compete:
        print(f"competing: {args.compete} busy-looping process(es) ran beside the timed steps")
    if args.rate > 0:
        print(f"paced: a step every {1e3 / args.rate:.1f} ms ({args.rate:g} Hz), not back to back")
    print(
        f"frames: {n_frames} tracked frames x {args.repeats} repeats from {len(seq_dirs)} "
        f"sequences of {args.data} "
        f"({f'first {args.frames} of each' if args.frames > 0 else 'every frame'}), "
        "decode excluded; "
        f"our threads: {args.threads}\n"
    )
    print(
        "| configuration | device | threads | fps | ms p50 | ms p95 | x CSRT | x TrackerNano "
        "| x TrackerNano, same threads | peak RSS |" + (" peak GPU memory |" if gpu_rows else "")
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if gpu_rows else ""))
    nano_by_threads = {r["threads"]: r for r in rows if r["key"].startswith("cv2nano")}
    for r in rows:
        csrt = by_key.get("csrt")
        nano = by_key.get("cv2nano")
        same = nano_by_threads.get(r["threads"])
        x_csrt = f"{r['fps'] / csrt['fps']:.2f}" if csrt else "-"
        x_nano = f"{r['fps'] / nano['fps']:.2f}" if nano else "-"
        x_same = f"{r['fps'] / same['fps']:.2f}" if same else "-"
        if nano:
            r["x_trackernano"] = r["fps"] / nano["fps"]
        if same:
            r["x_trackernano_same_threads"] = r["fps"] / same["fps"]
        rss = f"{r['peak_rss_mib']:.0f} MiB" if r["peak_rss_mib"] else "-"
        gpu = ""
        if gpu_rows:
            gpu = f" {r['peak_gpu_mib']:.0f} MiB |" if r["peak_gpu_mib"] is not None else " - |"
        print(
            f"| {r['label']} | {r['device']} | {r['threads']} | {r['fps']:.1f} | "
            f"{r['ms_p50']:.2f} | {r['ms_p95']:.2f} | {x_csrt} | {x_nano} | {x_same} | {rss} |"
            + gpu
        )
    print(
        "\nCPU time per frame, mean ms (thread: the calling thread, the whole cost of a 1-thread "
        "row and free of waits for a busy core; process: every thread of the process, spinning "
        "workers included, what a robot's CPU pays)\n"
    )
    print(
        "| configuration | threads | thread CPU ms | process CPU ms | x TrackerNano 1 thread, "
        "by thread CPU |"
    )
    print("|---|---:|---:|---:|---:|")
    nano1 = by_key.get("cv2nano-1t")
    for r in rows:
        x_cpu = "-"
        if nano1 is not None and r["threads"] == 1 and r["device"] == "cpu":
            r["x_trackernano_1t_cpu"] = nano1["cpu_thread_ms"] / r["cpu_thread_ms"]
            x_cpu = f"{r['x_trackernano_1t_cpu']:.2f}"
        print(
            f"| {r['label']} | {r['threads']} | {r['cpu_thread_ms']:.2f} | "
            f"{r['cpu_process_ms']:.2f} | {x_cpu} |"
        )
    print()
    for key, st in stats.items():
        per = st.searches / max(st.steps, 1)
        by_key[key]["searches_per_frame"] = per
        print(f"searches per frame ({key}): {per:.3f}")
    for key, st in stats.items():
        if st.economical:
            by_key[key]["economical_share"] = st.economical / max(st.steps, 1)
            print(
                f"search economy ({key}): {100 * st.economical / max(st.steps, 1):.1f}% of the "
                f"frames searched the small crop, {100 * st.researched / max(st.steps, 1):.1f}% "
                "searched again at full size"
            )
    for key, tracker in built.items():  # more than one thread: how many searches had them
        runs = getattr(getattr(tracker, "runtime", None), "search_runs", None)
        if runs is not None and any(t != 1 for t in runs):
            by_key[key]["search_runs_by_threads"] = dict(runs)
            print(
                f"search runs by threads ({key}): "
                + ", ".join(f"{t} thread(s) {n}" for t, n in sorted(runs.items()))
                + " (one thread: started beside another run, or the adaptive choice)"
            )
    for key, tracker in built.items():  # adaptive threads: what the choice did, per crop size
        choice = getattr(getattr(tracker, "runtime", None), "thread_choice", None)
        if choice is None:
            continue
        for size in sorted(k for k in choice.keys if isinstance(k, int)):
            st = choice.stats(size)
            runs = ", ".join(f"{t} thread(s) {st.get(f'runs_{t}', 0)}" for t in choice.choices)
            by_key[key].setdefault("thread_choice", {})[size] = st
            print(
                f"adaptive threads ({key}, {size} px): runs with {runs}; "
                f"{st['switches']} switches; last choice {st['current']}"
            )
    for key, st in stats.items():  # where a step's time goes (Tracker.last_step.timings)
        phase_ms = {
            name: 1e3 * sec / max(st.steps, 1)
            for name, sec in sorted(st.phases.items(), key=lambda kv: -kv[1])
        }
        by_key[key]["phase_ms"] = phase_ms
        ms = ", ".join(f"{name} {v:.2f}" for name, v in phase_ms.items())
        print(f"ms per frame by phase ({key}): {ms}")
    for key, st in stats.items():
        if not key.endswith("online"):
            continue
        total = sum(sum(r) for r in times[key])
        share = st.update_seconds / total if total else 0.0
        per = 1e6 * st.update_seconds / max(st.updates, 1)
        by_key[key]["update_share"] = share
        print(
            f"online update ({key}): {per:.0f} us per update, {st.updates} updates, "
            f"{100 * share:.1f}% of the step time (time inside the update / step time)"
        )
    for on, off in (("ort-online", "ort-config"), ("light-ort-online", "light-ort")):
        if on in by_key and off in by_key:
            extra = by_key[off]["fps"] / by_key[on]["fps"] - 1.0
            print(
                f"step time with vs without the online update ({on} vs {off}): "
                f"{100 * extra:+.1f}% (its cost plus its effect on later searches)"
            )
    # issue 28: the bundled model as the node runs it against cv2.TrackerNano, fps and step p95
    nano = by_key.get("cv2nano")
    for r in rows:
        if nano is None or not r["key"].startswith(("light-own", "light-economy")):
            continue
        same = nano_by_threads.get(r["threads"])
        ratio_same = f"{r['fps'] / same['fps']:.2f}x" if same else "-"
        p95_same = f"{same['ms_p95']:.2f}" if same else "-"
        print(
            f"vs cv2.TrackerNano ({r['key']}): {r['fps'] / nano['fps']:.2f}x its default threads, "
            f"{ratio_same} at {r['threads']} thread(s); step p95 {r['ms_p95']:.2f} ms vs "
            f"{nano['ms_p95']:.2f} (default threads) / {p95_same} ms (same threads)"
        )
        by_result = stats.get(str(r["key"]))
        if by_result is not None and by_result.present_seconds:
            # what control sees: the steps whose box a follower acts on, apart from LOST ones
            shown = np.array(by_result.present_seconds) * 1e3
            lost = np.array(by_result.absent_seconds) * 1e3
            r["ms_p95_present"] = float(np.percentile(shown, 95))
            lost_text = (
                f"; LOST {lost.size} ({100 * lost.size / (lost.size + shown.size):.1f}%): p50 "
                f"{np.percentile(lost, 50):.2f}, p95 {np.percentile(lost, 95):.2f} ms"
                if lost.size
                else ""
            )
            print(
                f"  steps by result ({r['key']}): present {shown.size}: p50 "
                f"{np.percentile(shown, 50):.2f}, p95 {r['ms_p95_present']:.2f} ms{lost_text}"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "date": stamp,
                    "load_before": load_before,
                    "load_after": load_after,
                    "frames": n_frames,
                    "repeats": args.repeats,
                    "rows": rows,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
