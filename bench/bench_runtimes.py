"""Which CPU runtime runs the bundled network fastest on *this* machine.

The tracker runs its exported graphs on ONNX Runtime (``runtime.backend: onnxruntime``; OpenVINO
is the other registry entry). On the x86 VMs of this project no other runtime ran the bundled
NanoTrack v3 faster (docs/speed.md, "Three more runtimes"), but mobile runtimes are written for
the ARM CPUs robots often carry, so a robot builder can measure it on theirs with this bench.

It exports the bundled model's search-side backbone at a static ``--size`` (the part a runtime can
speed up: the search graph's head takes the template kernels as inputs, which these converters
handle poorly), and times it (one thread: run after run interleaved; more threads: each runtime
alone in a process of its own, since the runtimes' spinning thread pools slow each other down) in:

- **ONNX Runtime** (always; and the whole search graph too, for the backbone's share);
- **LiteRT** with its XNNPACK delegate (``pip install ai-edge-litert``), converted by ``onnx2tf``
  (``--onnx2tf``; it needs TensorFlow, so it may live in another venv);
- **ncnn** (``pip install ncnn``), converted by pnnx (``--pnnx``; default the binary inside the
  ``pnnx`` package, found without importing it, since its Python side imports torch);
- **MNN** (``pip install MNN``), converted by its ``mnnconvert``.

A runtime whose package or converter is missing is reported as skipped, with why. Every
runtime's output is compared with ONNX Runtime's (max abs difference over the output's range):
a fast runtime that computes something else is no candidate.

    python bench/bench_runtimes.py                      # one thread, 300 runs each
    python bench/bench_runtimes.py --threads 2 --onnx2tf /other/venv/bin/onnx2tf

Nothing here downloads anything: ``onnx2tf`` fetches sample images for int8 calibration unless
its file is already in its working folder, so the bench writes a placeholder there (float32
conversion does not use it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_speed import machine  # the one machine description of the benches

from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.models.base import SiameseModel
from siam_tracker_ros.runtime.onnx_export import export_model

#: what onnx2tf looks for in its working folder before it tries to download it
_ONNX2TF_SAMPLES = "calibration_image_sample_data_20x128x128x3_float32.npy"

Runner = Callable[[], np.ndarray]


class Skipped(Exception):
    """A runtime that cannot run here (package or converter missing, conversion failed)."""


class _Backbone(torch.nn.Module):
    """The search crop -> the model's search features (its first level)."""

    def __init__(self, model: SiameseModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model.search_features(x)[0]
        return out


def _tool(given: str | None, name: str) -> str:
    """A converter's command: ``given``, else next to this Python, else on ``PATH``."""
    if given:
        return given
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise Skipped(f"no `{name}` (give its path)")
    return found


def _run(cmd: list[str], cwd: Path) -> None:
    """Run a converter, without this process's ``PYTHONPATH``: a converter in its own venv
    (onnx2tf with TensorFlow's pins) must import its own packages, not ours."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise Skipped(f"`{Path(cmd[0]).name}` failed: {tail[0][:160]}")


def _onnxruntime(path: Path, x: np.ndarray, threads: int) -> Runner:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feed = {names[0]: x}
    if len(names) > 1:  # the search graph: its kernels from the template graph
        tmpl = ort.InferenceSession(str(path.parent / "model_template.onnx"), so)
        kernels = tmpl.run(None, {tmpl.get_inputs()[0].name: x[:, :, :127, :127].copy()})
        feed = dict(zip(names, [x, *kernels], strict=True))
    return lambda: np.asarray(sess.run(None, feed)[0])


def _convert_litert(path: Path, onnx2tf: str | None) -> None:
    if importlib.util.find_spec("ai_edge_litert") is None:
        raise Skipped("no `ai_edge_litert` (pip install ai-edge-litert)")
    out = path.parent / "litert"
    out.mkdir(exist_ok=True)
    np.save(out / _ONNX2TF_SAMPLES, np.zeros((20, 128, 128, 3), np.float32))
    _run([_tool(onnx2tf, "onnx2tf"), "-i", str(path), "-o", str(out)], out)
    if not (out / f"{path.stem}_float32.tflite").exists():
        raise Skipped(f"onnx2tf wrote no {path.stem}_float32.tflite")


def _litert(path: Path, x: np.ndarray, threads: int) -> Runner:
    from ai_edge_litert.interpreter import Interpreter

    tflite = path.parent / "litert" / f"{path.stem}_float32.tflite"
    interp = Interpreter(model_path=str(tflite), num_threads=threads)
    interp.allocate_tensors()
    inp, outp = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))

    def run() -> np.ndarray:
        interp.set_tensor(inp, nhwc)
        interp.invoke()
        return np.asarray(interp.get_tensor(outp)).transpose(0, 3, 1, 2)

    return run


def _convert_ncnn(path: Path, pnnx: str | None) -> None:
    if importlib.util.find_spec("ncnn") is None:
        raise Skipped("no `ncnn` (pip install ncnn)")
    if pnnx is None:
        spec = importlib.util.find_spec("pnnx")
        locations = list(spec.submodule_search_locations or []) if spec else []
        binary = Path(locations[0]) / "pnnx" if locations else None
        if binary is None or not binary.exists():
            raise Skipped("no pnnx binary (pip install --no-deps pnnx, or give --pnnx)")
        pnnx = str(binary)
    size = int(path.stem.rsplit("_", 1)[1])
    _run([pnnx, path.name, f"inputshape=[1,3,{size},{size}]"], path.parent)


def _ncnn(path: Path, x: np.ndarray, threads: int) -> Runner:
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = threads
    # float32 throughout, as the tracker computes (ncnn picks fp16/bf16 storage where it can)
    net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
    net.opt.use_bf16_storage = False
    if net.load_param(str(path.with_suffix(".ncnn.param"))) or net.load_model(
        str(path.with_suffix(".ncnn.bin"))
    ):
        raise Skipped("ncnn could not load pnnx's output")
    chw = np.ascontiguousarray(x[0])  # kept alive: ncnn.Mat borrows its memory
    mat = ncnn.Mat(chw)

    def run() -> np.ndarray:
        ex = net.create_extractor()
        ex.input("in0", mat)
        _, out = ex.extract("out0")
        return np.array(out)[None]

    run.keep = chw  # type: ignore[attr-defined]
    return run


def _convert_mnn(path: Path, convert: str | None) -> None:
    if importlib.util.find_spec("MNN") is None:
        raise Skipped("no `MNN` (pip install MNN)")
    cmd = [_tool(convert, "mnnconvert"), "-f", "ONNX", "--modelFile", str(path)]
    _run([*cmd, "--MNNModel", str(path.with_suffix(".mnn")), "--bizCode", "bench"], path.parent)


def _mnn(path: Path, x: np.ndarray, threads: int) -> Runner:
    import MNN
    import MNN.expr as expr

    manager = MNN.nn.create_runtime_manager(({"precision": "high", "numThread": threads},))
    module = MNN.nn.load_module_from_file(
        str(path.with_suffix(".mnn")), ["x"], ["y"], runtime_manager=manager
    )
    var = expr.const(x, list(x.shape), expr.NCHW)  # may borrow x's memory: kept alive below

    def run() -> np.ndarray:
        y = expr.convert(module.forward([var])[0], expr.NCHW)
        return np.array(y.read(), copy=True)  # read() may be a view of a buffer MNN reuses

    run.keep = x  # type: ignore[attr-defined]
    return run


#: row name -> (graph file in the work folder, loader); the first row is the reference
LOADERS: dict[str, tuple[str, Callable[[Path, np.ndarray, int], Runner]]] = {
    "onnxruntime": ("backbone_{size}.onnx", _onnxruntime),
    "litert": ("backbone_{size}.onnx", _litert),
    "ncnn": ("backbone_{size}.onnx", _ncnn),
    "mnn": ("backbone_{size}.onnx", _mnn),
    "onnxruntime, whole search graph": ("model_search_{size}.onnx", _onnxruntime),
}


def _load(name: str, work: Path, threads: int) -> Runner:
    graph, loader = LOADERS[name]
    x = np.load(work / "crop.npy")
    return loader(work / graph.format(size=x.shape[-1]), x, threads)


def _times(runners: dict[str, Runner], runs: int) -> dict[str, np.ndarray]:
    """Wall ms of each runner, interleaved run by run (load changes hit all alike)."""
    for run in runners.values():
        for _ in range(10):
            run()
    ms: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(runs):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            ms[name].append((time.perf_counter() - t0) * 1e3)
    return {name: np.array(v) for name, v in ms.items()}


def _files(name: str, work: Path) -> tuple[Path, Path]:
    """Where a ``--child`` leaves a row's times and output."""
    tag = name.replace(", ", "_").replace(" ", "_")
    return work / f"ms_{tag}.npy", work / f"out_{tag}.npy"


def _child(name: str, work: Path, threads: int, runs: int) -> int:
    """``--child``: time one runtime alone in this process; its times and output to files."""
    run = _load(name, work, threads)
    times, output = _files(name, work)
    np.save(times, _times({name: run}, runs)[name])
    np.save(output, run())
    return 0


def _measure(names: list[str], work: Path, threads: int, runs: int) -> dict[str, np.ndarray]:
    """Times and outputs of every row: one thread -- in this process, interleaved; more -- each
    runtime alone in a process of its own, since every runtime's thread pool keeps its workers
    spinning after a run, which would slow the next runtime's run down (docs/speed.md, "Two ONNX
    Runtime threads without spinning pools")."""
    if threads == 1:
        runners = {name: _load(name, work, threads) for name in names}
        times = _times(runners, runs)
        return {name: times[name] for name in names} | {
            f"out:{name}": runners[name]() for name in names
        }
    found: dict[str, np.ndarray] = {}
    for name in names:
        cmd = [sys.executable, __file__, "--child", name, "--work", str(work)]
        subprocess.run([*cmd, "--threads", str(threads), "--runs", str(runs)], check=True)
        times, output = _files(name, work)
        found[name], found[f"out:{name}"] = np.load(times), np.load(output)
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="threads of every runtime (default 1)")
    ap.add_argument("--runs", type=int, default=300, help="timed runs per runtime (default 300)")
    ap.add_argument("--size", type=int, default=255, help="search crop side (default 255)")
    ap.add_argument("--runtimes", default="litert,ncnn,mnn", help="besides ONNX Runtime")
    ap.add_argument("--onnx2tf", help="the onnx2tf command (default: beside python, or PATH)")
    ap.add_argument("--pnnx", help="the pnnx binary (default: the one in the pnnx package)")
    ap.add_argument("--mnnconvert", help="MNN's converter (default: beside python, or PATH)")
    ap.add_argument("--work", type=Path, help="folder for the graphs (default: a temporary one)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return _child(args.child, args.work, args.threads, args.runs)

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_runtimes_"))
    work.mkdir(parents=True, exist_ok=True)
    model = load_tracker(device="cpu", backend="torch").runtime.model  # type: ignore[attr-defined]
    model = model.eval().float()
    crop = torch.rand((1, 3, args.size, args.size), generator=torch.Generator().manual_seed(0))
    crop = crop * 255.0
    np.save(work / "crop.npy", crop.numpy())
    backbone = work / f"backbone_{args.size}.onnx"
    with torch.no_grad():
        torch.onnx.export(
            _Backbone(model), (crop,), str(backbone), input_names=["x"], output_names=["y"],
            opset_version=17, dynamo=False,
        )  # fmt: skip
    export_model(model, work, search_sizes=(args.size,), dynamic=False)

    converters = {
        "litert": lambda: _convert_litert(backbone, args.onnx2tf),
        "ncnn": lambda: _convert_ncnn(backbone, args.pnnx),
        "mnn": lambda: _convert_mnn(backbone, args.mnnconvert),
    }
    names, notes = ["onnxruntime"], {}
    for name in [r for r in args.runtimes.split(",") if r]:
        if name not in converters:
            ap.error(f"--runtimes: unknown {name!r} (known: {', '.join(converters)})")
        try:
            converters[name]()
            names.append(name)
        except Skipped as why:
            notes[name] = f"skipped: {why}"
    names.append("onnxruntime, whole search graph")

    load = os.getloadavg()[0]
    found = _measure(names, work, args.threads, args.runs)
    expected = found["out:onnxruntime"]
    span = float(expected.max() - expected.min()) or 1.0
    how = "interleaved runs" if args.threads == 1 else "runs, each runtime in a process of its own"
    print(
        f"{model.__class__.__name__} search side at {args.size} px, {args.threads} thread(s), "
        f"{args.runs} {how}; {machine()}; load average {load:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    print("| runtime | part | ms p10 | ms p50 | max abs difference / output range |")
    print("|---|---|---:|---:|---:|")
    for name in names:
        ms, whole = found[name], name.endswith("whole search graph")
        diff = (
            "-" if whole else f"{float(np.abs(found['out:' + name] - expected).max()) / span:.1e}"
        )
        part = "search graph" if whole else "backbone"
        print(
            f"| {name.split(',')[0]} | {part} | {np.percentile(ms, 10):.2f} | "
            f"{np.median(ms):.2f} | {diff} |"
        )
    for name, note in notes.items():
        print(f"{name}: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
