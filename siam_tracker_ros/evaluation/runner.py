"""Run trackers over sequences under the protocols, with an on-disk cache and worker processes.

Layout of the cache (also the predictions any other tool can re-score)::

    <out>/predictions/<tracker>/<experiment>/<sequence>/
        boxes.txt    one "x,y,w,h" line per frame (0,0,0,0 where the protocol produced no box)
        scores.txt   one score per frame
        present.txt  one 0/1 presence flag per frame
        events.txt   one FrameEvent code per frame (0 tracked, 1 init, 2 failure, 3 skipped, 4 held)
        times.txt    seconds of the init/track call per frame ("nan" where no call was made)
        states.txt   tracker state per frame (1 TRACKING, 2 LOST, 3 AMBIGUOUS; optional)
        meta.json    what produced it; a record is reused only if its fingerprint matches

Sequences run in parallel in separate processes (``spawn``: no inherited torch / OpenCV thread
pools); each worker runs with one torch / OpenCV thread so two workers fit the 2-core machine.
The tracker is built once per (tracker, sequence) and re-initialised for each experiment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence as SequenceABC
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from siam_tracker_ros.core.defaults import BUNDLED_CHECKPOINT
from siam_tracker_ros.datasets import Sequence
from siam_tracker_ros.evaluation.peers import (
    PEERS,
    WRAPPER_VERSION,
    build_peer,
    peer_unavailable_reason,
)
from siam_tracker_ros.evaluation.protocols import (
    EXPERIMENTS,
    RunRecord,
    SupportsTracking,
    run_experiment,
)

if TYPE_CHECKING:
    from siam_tracker_ros.core.tracker import Tracker

__all__ = [
    "DEFAULT_PROJECT_CONFIG",
    "DEFAULT_PROJECT_WEIGHTS",
    "ExperimentParams",
    "Results",
    "TrackerSpec",
    "apply_overrides",
    "default_project_spec",
    "evaluation_pool",
    "parse_tracker_specs",
    "read_record",
    "run_all",
    "with_overrides",
    "write_record",
]

#: bump when a protocol changes in a way that invalidates cached records
PROTOCOL_VERSION = 1

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The project tracker ``siam-tracker evaluate`` runs when ``--trackers`` names plain ``project``:
#: NanoTrack v2 (the coordinator's choice of default) with its released weights from the shared
#: weights folder when the config names none.
DEFAULT_PROJECT_CONFIG = BUNDLED_CHECKPOINT  # the bundled model (a checkpoint with its own config)
DEFAULT_PROJECT_WEIGHTS = "nanotrack/pretrained_nanotrackv2.pth"  # relative to --weights-dir


def _file_digest(path: str | Path | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        return f"missing:{p}"
    st = p.stat()
    if st.st_size < 4 * 1024 * 1024:
        return hashlib.sha1(p.read_bytes()).hexdigest()[:16]
    return f"{st.st_size}:{int(st.st_mtime)}"


def _replace_nested(obj: Any, changes: dict[str, Any], where: str = "") -> Any:
    """``obj`` with ``changes`` (a nested dict of new values) applied in one ``replace`` per
    section, so keys validated together (e.g. two weights that must sum to 1) change together."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise ValueError(f"cannot override {where!r}: {type(obj).__name__} is not a config section")
    names = {f.name for f in dataclasses.fields(obj)}
    new: dict[str, Any] = {}
    for head, value in changes.items():
        if head not in names:
            raise ValueError(f"unknown config key {head!r} in override {where + head!r}")
        new[head] = (
            _replace_nested(getattr(obj, head), value, f"{where}{head}.")
            if isinstance(value, _Section)
            else value
        )
    return dataclasses.replace(obj, **new)


class _Section(dict):  # type: ignore[type-arg]
    """A nested group of overrides (a plain dict value is a value, not a section)."""


def apply_overrides(config: Any, overrides: SequenceABC[tuple[str, Any]]) -> Any:
    """Apply dotted-key overrides (``("mechanisms.online_update.enabled", False)``) to a frozen
    ``TrackerConfig`` with ``dataclasses.replace`` (the dataclasses validate the result)."""
    tree = _Section()
    for key, value in overrides:
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, _Section())
            if not isinstance(node, _Section):
                raise ValueError(f"override {key!r} conflicts with another override")
        node[leaf] = value
    return _replace_nested(config, tree) if tree else config


def with_overrides(tracker: Tracker, overrides: SequenceABC[tuple[str, Any]]) -> Tracker:
    """A tracker on ``tracker``'s network and runtime with its tracking settings overridden
    (:func:`apply_overrides`): one network load serves many settings."""
    from siam_tracker_ros.core.tracker import Tracker

    config = apply_overrides(tracker.config, overrides)
    return Tracker(
        tracker.model,
        config,
        runtime=tracker.runtime,
        background_searches=tracker.background_searches,
    )


@dataclass(frozen=True)
class TrackerSpec:
    """A picklable description of a tracker; :meth:`build` makes it in the worker process."""

    kind: str  # "project" or a key of peers.PEERS
    name: str  # label in tables and the cache folder name
    config: str | None = None
    weights: str | None = None
    weights_dir: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    device: str = "cpu"

    def unavailable_reason(self) -> str | None:
        if self.kind == "project":
            if self.config is None or not Path(self.config).is_file():
                return f"project config {self.config} not found"
            if self.weights is not None and not Path(self.weights).is_file():
                return f"project weights {self.weights} not found"
            try:
                import siam_tracker_ros.core.tracker  # noqa: F401
            except ImportError as exc:
                return f"project tracker cannot be imported: {exc}"
            return None
        return peer_unavailable_reason(self.kind, self.weights_dir)

    def build(self) -> SupportsTracking:
        if self.kind != "project":
            return build_peer(self.kind, self.weights_dir)
        from siam_tracker_ros.core.loading import load_tracker

        assert self.config is not None
        tracker = load_tracker(self.config, self.weights, device=self.device)
        return with_overrides(tracker, self.overrides) if self.overrides else tracker

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "config": self.config,
            "config_digest": _file_digest(self.config),
            "weights": self.weights,
            "weights_digest": _file_digest(self.weights),
            "weights_dir": self.weights_dir if self.kind in ("nanotrack", "vittrack") else None,
            "overrides": [list(o) for o in self.overrides],
            "device": self.device,
            "wrapper_version": WRAPPER_VERSION if self.kind != "project" else None,
        }


def default_project_spec(
    weights_dir: str | Path | None, config: str | Path | None = None, name: str = "project"
) -> TrackerSpec:
    """``project``: the bundled model by default; a YAML config that names no weights of its own
    gets the shared NanoTrack v2 weights when present."""
    cfg = Path(config) if config is not None else DEFAULT_PROJECT_CONFIG
    weights = None
    is_yaml = cfg.suffix.lower() in (".yaml", ".yml")
    shared_v2 = Path(weights_dir) / DEFAULT_PROJECT_WEIGHTS if weights_dir is not None else None
    if is_yaml and shared_v2 is not None and shared_v2.is_file():
        try:
            import yaml

            model = (
                (yaml.safe_load(cfg.read_text()) or {}).get("model", {}) if cfg.is_file() else {}
            )
        except (OSError, ValueError):
            model = {}
        if not model.get("weights"):
            weights = str(shared_v2)
    return TrackerSpec("project", name, config=str(cfg), weights=weights)


def parse_tracker_specs(
    text: str, weights_dir: str | Path | None = None, default_config: str | Path | None = None
) -> list[TrackerSpec]:
    """Parse ``--trackers``: comma-separated ``project[:CONFIG[:WEIGHTS]]`` or peer names
    (``csrt,kcf,mil,nanotrack,vittrack``); each may carry a ``LABEL=`` prefix, and a project
    spec ``+dotted.key=VALUE`` suffixes that override its tracker config (``VALUE`` read as
    YAML), e.g. ``v3ou=project:config/models/nanotrack_v3.yaml:W.pth+mechanisms.online_update.
    enabled=true``: one command compares mechanism settings without writing config files."""
    wd = str(weights_dir) if weights_dir is not None else None
    specs: list[TrackerSpec] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        label = None
        head, eq, tail = item.partition("=")
        if eq and ":" not in head and "+" not in head:
            label, item = head.strip(), tail.strip()
        item, *override_texts = item.split("+")
        overrides = tuple(parse_override(o) for o in override_texts)
        kind, _, rest = item.partition(":")
        kind = kind.lower()
        if kind == "project":
            if not rest:
                spec = default_project_spec(weights_dir, default_config, name=label or "project")
            else:
                cfg, _, weights = rest.partition(":")
                name = label or f"project-{Path(cfg).stem}" + (
                    f"-{Path(weights).stem}" if weights else ""
                )
                spec = TrackerSpec("project", name, config=cfg, weights=weights or None)
        elif kind in PEERS:
            if rest:
                raise ValueError(f"peer {kind!r} takes no arguments, got {item!r}")
            if overrides:
                raise ValueError(f"peer {kind!r} takes no config overrides, got {item!r}")
            spec = TrackerSpec(kind, label or kind, weights_dir=wd)
        else:
            known = "project[:CONFIG[:WEIGHTS]] or one of " + ", ".join(sorted(PEERS))
            raise ValueError(f"unknown tracker {item!r}; use {known}")
        if overrides:
            spec = dataclasses.replace(spec, overrides=spec.overrides + overrides)
        specs.append(spec)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"tracker names must be unique, got {names} (use LABEL=spec)")
    return specs


def parse_override(text: str) -> tuple[str, Any]:
    """``dotted.key=VALUE`` -> ``("dotted.key", value)`` with ``VALUE`` parsed as YAML."""
    import yaml

    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise ValueError(f"config override must be KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


@dataclass(frozen=True)
class ExperimentParams:
    """Protocol settings that change records (so they are part of the cache key)."""

    skip: int = 5  # VOT: re-initialise this many frames after a failure
    fps: float = 20.0  # VOT real-time: frame rate of the simulated camera
    grace: int = 3  # VOT real-time: frames after an init that may not be late

    def for_experiment(self, name: str) -> dict[str, Any]:
        if name == "ope":
            return {}
        if name == "supervised":
            return {"skip": self.skip}
        return {"skip": self.skip, "fps": self.fps, "grace": self.grace}


# --------------------------------------------------------------------------------------------------
# record files
# --------------------------------------------------------------------------------------------------


def write_record(folder: Path, record: RunRecord, meta: dict[str, Any]) -> None:
    """Write one record (meta.json last, so a half-written folder is never taken as valid)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_file = folder / "meta.json"
    if meta_file.exists():
        meta_file.unlink()
    np.savetxt(folder / "boxes.txt", record.boxes, fmt="%.3f", delimiter=",")
    np.savetxt(folder / "scores.txt", record.scores, fmt="%.6f")
    np.savetxt(folder / "present.txt", record.present.astype(int), fmt="%d")
    np.savetxt(folder / "events.txt", record.events.astype(int), fmt="%d")
    np.savetxt(folder / "times.txt", record.times, fmt="%.7f")
    if record.states is not None:
        np.savetxt(folder / "states.txt", record.states.astype(int), fmt="%d")
    meta_file.write_text(json.dumps(meta, indent=1, sort_keys=True))


def read_record(folder: Path) -> RunRecord:
    """One record; ``states.txt`` is optional (records written before it existed, where the
    state is derived from the presence flag)."""
    states = folder / "states.txt"
    return RunRecord(
        boxes=np.loadtxt(folder / "boxes.txt", delimiter=",", ndmin=2).reshape(-1, 4),
        scores=np.loadtxt(folder / "scores.txt", ndmin=1),
        present=np.loadtxt(folder / "present.txt", ndmin=1).astype(bool),
        events=np.loadtxt(folder / "events.txt", ndmin=1).astype(np.int8),
        times=np.loadtxt(folder / "times.txt", ndmin=1),
        states=np.loadtxt(states, ndmin=1).astype(np.int8) if states.is_file() else None,
    )


def _meta(
    spec: TrackerSpec, seq: Sequence, experiment: str, params: ExperimentParams
) -> dict[str, Any]:
    return {
        "protocol_version": PROTOCOL_VERSION,
        "tracker": spec.fingerprint(),
        "sequence": seq.name,
        "sequence_fingerprint": seq.fingerprint(),
        "experiment": experiment,
        "params": params.for_experiment(experiment),
    }


def _cached(folder: Path, meta: dict[str, Any]) -> RunRecord | None:
    try:
        stored = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if stored != json.loads(json.dumps(meta)):
        return None
    try:
        return read_record(folder)
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------------

Key = tuple[str, str, str]  # (tracker name, experiment, sequence name)


@dataclass
class Results:
    """All records of one evaluation, plus trackers that were skipped and why."""

    records: dict[Key, RunRecord] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[Key, str] = field(default_factory=dict)

    def get(self, tracker: str, experiment: str, sequence: str) -> RunRecord | None:
        return self.records.get((tracker, experiment, sequence))


def _limit_threads(with_torch: bool) -> None:
    """One thread per worker; torch is only imported for trackers that need it (slow import)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    if with_torch:
        import torch

        torch.set_num_threads(1)


class _Ticker:
    """Per-frame progress from a worker, batched so the queue is not flooded."""

    def __init__(self, sink: Callable[[int], None] | None, every: int = 25) -> None:
        self.sink, self.every, self.count = sink, every, 0

    def __call__(self) -> None:
        self.count += 1
        if self.count >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.sink is not None and self.count:
            self.sink(self.count)
        self.count = 0


#: spawned worker processes: nothing inherited from a parent that may hold thread pools or CUDA
_SPAWN = get_context("spawn")
#: a worker's progress queue (set by ``_start_worker``)
_WORKER_PROGRESS: Any = None


def _start_worker(progress: Any, parent: int) -> None:
    """Pool worker start: keep the progress queue and exit once the evaluation's process is gone."""
    global _WORKER_PROGRESS
    _WORKER_PROGRESS = progress
    threading.Thread(
        target=_exit_with_parent, args=(parent,), daemon=True, name="siam-parent-watch"
    ).start()


def _exit_with_parent(parent: int) -> None:
    # a SIGTERM to the evaluation's process alone (``timeout``, ``kill``, a CI job's cancel)
    # skips the pool's shutdown: without this its workers would wait for jobs forever
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def evaluation_pool(workers: int, progress: Any = None) -> ProcessPoolExecutor:
    """The worker processes of a parallel evaluation: spawned, each exits when the process that
    made the pool is gone however it ended; ``progress``: a queue of ``_SPAWN`` (``put(n)``
    finished frames) the jobs report to."""
    return ProcessPoolExecutor(
        workers, mp_context=_SPAWN, initializer=_start_worker, initargs=(progress, os.getpid())
    )


def _run_group(
    spec: TrackerSpec,
    seq: Sequence,
    experiments: tuple[str, ...],
    params: ExperimentParams,
    out_dir: str,
    limit_threads: bool = True,
    progress: Any = None,
) -> dict[str, RunRecord]:
    """Worker entry: build the tracker once, run each experiment, write each record.

    ``progress``: a callable taking a number of finished frames (default: in a pool worker, its
    progress queue).
    """
    if limit_threads:
        _limit_threads(with_torch=spec.kind == "project")
    if progress is None and _WORKER_PROGRESS is not None:
        progress = _WORKER_PROGRESS.put
    ticker = _Ticker(progress)
    tracker = spec.build()
    out: dict[str, RunRecord] = {}
    for exp in experiments:
        record = run_experiment(exp, tracker, seq, params.for_experiment(exp), on_frame=ticker)
        ticker.flush()
        meta = _meta(spec, seq, exp, params)
        write_record(Path(out_dir) / spec.name / exp / seq.name, record, meta)
        out[exp] = record
    return out


def run_all(
    specs: SequenceABC[TrackerSpec],
    sequences: SequenceABC[Sequence],
    experiments: SequenceABC[str] = EXPERIMENTS,
    out_dir: str | Path = "results/predictions",
    params: ExperimentParams | None = None,
    workers: int = 2,
    progress: bool = True,
    rerun: bool = False,
    log: Callable[[str], None] = print,
) -> Results:
    """Run every (tracker, sequence, experiment), reusing valid cached records."""
    params = params or ExperimentParams()
    for exp in experiments:
        if exp not in EXPERIMENTS:
            raise ValueError(f"unknown experiment {exp!r}; known: {EXPERIMENTS}")
    out = Path(out_dir)
    results = Results()
    todo: list[tuple[TrackerSpec, Sequence, tuple[str, ...]]] = []
    for spec in specs:
        reason = spec.unavailable_reason()
        if reason is not None:
            results.skipped[spec.name] = reason
            log(f"skipping {spec.name}: {reason}")
            continue
        for seq in sequences:
            missing = []
            for exp in experiments:
                folder = out / spec.name / exp / seq.name
                rec = None if rerun else _cached(folder, _meta(spec, seq, exp, params))
                if rec is None:
                    missing.append(exp)
                else:
                    results.records[(spec.name, exp, seq.name)] = rec
            if missing:
                todo.append((spec, seq, tuple(missing)))
    if not todo:
        return results
    # longest jobs first keeps both workers busy to the end
    todo.sort(key=lambda t: -len(t[1]) * len(t[2]))
    total = sum(len(seq) * len(exps) for _, seq, exps in todo)
    bar = _progress_bar(total, progress)
    t0 = time.perf_counter()

    def done(spec: TrackerSpec, seq: Sequence, recs: dict[str, RunRecord]) -> None:
        for exp, rec in recs.items():
            results.records[(spec.name, exp, seq.name)] = rec
        if bar is not None:
            bar.set_postfix_str(f"{spec.name}/{seq.name}", refresh=False)

    def failed(spec: TrackerSpec, seq: Sequence, exps: tuple[str, ...], exc: BaseException) -> None:
        for exp in exps:
            results.errors[(spec.name, exp, seq.name)] = f"{type(exc).__name__}: {exc}"
        log(f"error: {spec.name} on {seq.name}: {type(exc).__name__}: {exc}")

    advance = bar.update if bar is not None else None
    if workers <= 1:
        for spec, seq, exps in todo:
            try:
                recs = _run_group(spec, seq, exps, params, str(out), False, advance)
            except Exception as exc:  # one broken tracker must not lose the others' results
                failed(spec, seq, exps, exc)
            else:
                done(spec, seq, recs)
    else:
        frames = _SPAWN.Queue()

        def drain() -> None:
            while True:
                try:
                    n = frames.get_nowait()
                except queue.Empty:
                    return
                if advance is not None:
                    advance(n)

        with evaluation_pool(workers, frames) as pool:
            futures = {
                pool.submit(_run_group, spec, seq, exps, params, str(out), True): (
                    spec,
                    seq,
                    exps,
                )
                for spec, seq, exps in todo
            }
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                drain()
                for fut in finished:
                    spec, seq, exps = futures[fut]
                    try:
                        done(spec, seq, fut.result())
                    except Exception as exc:
                        failed(spec, seq, exps, exc)
        drain()  # what the workers reported last
    if bar is not None:
        bar.close()
    log(f"ran {len(todo)} tracker/sequence jobs in {time.perf_counter() - t0:.0f} s")
    return results


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="frame", desc="evaluate", dynamic_ncols=True)
