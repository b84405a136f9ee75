"""``siam-tracker evaluate`` (compare trackers on a split) and ``siam-tracker ablate``
(toggle each SiamMargin mechanism of the project tracker). See ``docs/evaluation.md``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from siam_tracker_ros.datasets import shared_dir
from siam_tracker_ros.evaluation.runner import (
    DEFAULT_PROJECT_CONFIG,
    REPO_ROOT,
    ExperimentParams,
    TrackerSpec,
    default_project_spec,
    parse_tracker_specs,
    run_all,
)

DEFAULT_TRACKERS = "project,csrt,kcf,mil,nanotrack,vittrack"
DEFAULT_EXPERIMENTS = "ope,supervised,realtime"


def _interval(text: str) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"need 1 <= LOW <= HIGH, got {text!r}")
    return low, high


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        default=shared_dir() / "data",
        help="data root (default: $SIAM_SHARED_DIR/data or ../shared/data)",
    )
    p.add_argument(
        "--split",
        default="val",
        help="dev (= val + dev-videos, the set defaults are decided on), val (sequences/), "
        "train (train-videos/) or a sub-folder; '' = --data itself",
    )
    p.add_argument("--sequences", default="", help="comma-separated subset of sequence names")
    p.add_argument(
        "--weights-dir",
        type=Path,
        default=shared_dir() / "weights",
        help="weights folder for NanoTrack/VitTrack peers and the default project weights",
    )
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="parallel sequence processes (1 = in-process; use 1 for timing runs)",
    )
    p.add_argument(
        "--eao-interval",
        type=_interval,
        default=(46, 291),
        metavar="LOW,HIGH",
        help="EAO sequence-length interval (VOT2019: 46,291; VOT2018: 100,356)",
    )
    p.add_argument("--burnin", type=int, default=10, help="VOT accuracy burn-in frames")
    p.add_argument(
        "--skip", type=int, default=5, help="VOT re-init this many frames after a failure"
    )
    p.add_argument("--rt-fps", type=float, default=20.0, help="VOT real-time camera frame rate")
    p.add_argument("--grace", type=int, default=3, help="VOT real-time grace frames after an init")
    p.add_argument("--device", default="cpu", help="device for the project tracker")
    p.add_argument("--rerun", action="store_true", help="ignore cached predictions")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")


def add_parser(subparsers: Any) -> None:
    ev = subparsers.add_parser(
        "evaluate",
        help="compare trackers (OTB one-pass, VOT supervised / real-time, presence, fps)",
        description=__doc__,
    )
    _add_common(ev)
    ev.add_argument(
        "--trackers",
        default=DEFAULT_TRACKERS,
        help="comma list: project[:CONFIG[:WEIGHTS]], csrt, kcf, mil, nanotrack, "
        "vittrack; LABEL=spec renames",
    )
    ev.add_argument(
        "--project-config",
        type=Path,
        default=DEFAULT_PROJECT_CONFIG,
        help="config of plain 'project' in --trackers",
    )
    ev.add_argument(
        "--experiments", default=DEFAULT_EXPERIMENTS, help="comma list of ope, supervised, realtime"
    )
    ev.add_argument(
        "--baseline",
        default="",
        metavar="LABEL",
        help="tracker (its label in --trackers) every other one is compared with, per sequence: "
        "delta and paired bootstrap 95%% interval over sequences for AUC, failures, EAO, "
        "confident-wrong frames and, on splits with absent frames, LT-F, phantom, false-lost "
        "and re-acquisition fractions",
    )
    ev.add_argument(
        "--bootstrap", type=int, default=2000, help="bootstrap resamples for --baseline"
    )
    ev.add_argument("--seed", type=int, default=0, help="bootstrap seed for --baseline")
    ev.add_argument("--videos", action="store_true", help="also write overlay videos per sequence")
    ev.add_argument(
        "--got10k",
        action="store_true",
        help="cross-check one-pass AUC / P@20 with the got10k package on the same boxes",
    )
    ev.set_defaults(func=cmd_evaluate)

    ab = subparsers.add_parser(
        "ablate",
        help="toggle each SiamMargin mechanism of the project tracker (seed-style table)",
        description=__doc__,
    )
    _add_common(ab)
    ab.add_argument("--config", type=Path, default=DEFAULT_PROJECT_CONFIG, help="project config")
    ab.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="(margin-trained) weights; default: the config's or the shared default",
    )
    ab.add_argument(
        "--plain-weights",
        type=Path,
        default=None,
        help="weights trained without the margin loss: adds the large-margin row",
    )
    ab.add_argument(
        "--protocol",
        choices=("supervised", "realtime"),
        default="supervised",
        help="VOT protocol for accuracy / failures / EAO (the seed used real-time)",
    )
    ab.set_defaults(func=cmd_ablate, out=Path("results/ablation"))


def load_split(
    data: Path,
    split: str,
    sequences: str = "",
    on_error: Callable[[str, Exception], None] | None = None,
) -> list[Any]:
    """The sequences of ``split`` (``dev`` = ``val`` + ``dev-videos``, any split name of
    :data:`siam_tracker_ros.datasets.splits.SPLITS` or a sub-folder; ``""`` = ``data`` itself),
    optionally only the comma-separated ``sequences``. Names asked for that exist in none of the
    split's folders are an error, not a silent subset. ``on_error``: see
    :func:`~siam_tracker_ros.datasets.sequences.load_dataset`."""
    from siam_tracker_ros.datasets import load_dataset

    names = [n for n in sequences.split(",") if n] or None
    return list(load_dataset(data, split or None, names, on_error))


def _load(args: argparse.Namespace) -> tuple[list[Any], dict[str, str]]:
    """The sequences to run and the ones that could not be loaded, with the reason (each
    named on stderr once: one bad sequence must not end an evaluation of the others)."""
    from siam_tracker_ros.datasets.splits import missing_generated

    note = missing_generated(args.split) if args.split else None
    if note:
        print(note, file=sys.stderr)
    skipped: dict[str, str] = {}

    def skip(name: str, exc: Exception) -> None:
        skipped[name] = str(exc)
        print(f"note: sequence {name} skipped: {exc}", file=sys.stderr)

    return load_split(args.data, args.split, args.sequences, skip), skipped


def _run_all(args: argparse.Namespace, specs: Any, sequences: Any, experiments: Any) -> Any:
    """run_all with the cache folder, workers, progress and rerun flags both commands share."""
    return run_all(
        specs,
        sequences,
        experiments,
        args.out / "predictions",
        _params(args),
        workers=args.workers,
        progress=not args.no_progress,
        rerun=args.rerun,
    )


def _params(args: argparse.Namespace) -> ExperimentParams:
    return ExperimentParams(skip=args.skip, fps=args.rt_fps, grace=args.grace)


def _commit() -> str:
    """The repository's commit (``+dirty`` with uncommitted changes), or ``""`` outside git."""
    import subprocess

    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty=+dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return rev


def _machine() -> str:
    import platform

    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"


def _meta(args: argparse.Namespace, experiments: list[str]) -> dict[str, Any]:
    import datetime

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "commit": _commit(),
        "machine": _machine(),
        "command": "siam-tracker " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if Path(sys.argv[0]).name in ("siam-tracker", "__main__.py")
        else shlex.join(sys.argv),
        "data": str(args.data),
        "split": args.split,
        "experiments": experiments,
        "eao_interval": list(args.eao_interval),
        "burnin": args.burnin,
        "skip": args.skip,
        "fps": args.rt_fps,
        "grace": args.grace,
        "workers": args.workers,
    }


def cmd_evaluate(args: argparse.Namespace) -> int:
    from siam_tracker_ros.evaluation.reports import (
        ScoreSettings,
        format_longterm_table,
        format_table,
        summarize,
        write_overlay_videos,
        write_reports,
    )

    experiments = [e for e in args.experiments.split(",") if e]
    sequences, skipped_sequences = _load(args)
    specs = parse_tracker_specs(args.trackers, args.weights_dir, args.project_config)
    specs = [dataclasses.replace(s, device=args.device) for s in specs]
    results = _run_all(args, specs, sequences, experiments)
    names = [s.name for s in specs]
    if args.baseline and args.baseline not in names:
        print(f"error: --baseline {args.baseline!r} is not among the trackers {names}")
        return 2
    settings = ScoreSettings(burnin=args.burnin, eao_interval=args.eao_interval)
    summaries = summarize(results, sequences, names, settings)
    print(format_table(summaries))
    longterm = format_longterm_table(summaries)
    if longterm:
        print("\nLong-term (one-pass; see report.md for the definitions and per sequence):")
        print(longterm)
    for name, reason in results.skipped.items():
        print(f"note: {name} skipped: {reason}")
    meta = _meta(args, experiments)
    meta["skipped_sequences"] = skipped_sequences
    paired = []
    if args.baseline and args.baseline in summaries:
        from siam_tracker_ros.evaluation.paired import paired_comparison
        from siam_tracker_ros.evaluation.reports import (
            format_paired_longterm_table,
            format_paired_table,
        )

        paired = [
            paired_comparison(
                results,
                sequences,
                n,
                args.baseline,
                args.eao_interval,
                args.bootstrap,
                args.seed,
            )
            for n in summaries
            if n != args.baseline
        ]
        meta.update(bootstrap_resamples=args.bootstrap, bootstrap_seed=args.seed)
        print(format_paired_table(paired))
        paired_lt = format_paired_longterm_table(paired)
        if paired_lt:
            print(paired_lt)
    if args.got10k:
        meta["got10k_crosscheck"] = _got10k_crosscheck(results, sequences, list(summaries))
    paths = write_reports(summaries, results, sequences, args.out, meta, paired=paired)
    if args.videos:
        write_overlay_videos(results, sequences, names, args.out / "videos")
    print(f"wrote {paths['markdown']} and {paths['json']}")
    return 1 if results.errors or skipped_sequences else 0


def _got10k_crosscheck(results: Any, sequences: list[Any], names: list[str]) -> dict[str, Any]:
    """got10k's OTB report on each tracker's one-pass boxes (frame 1 kept, absent frames dropped,
    got10k's convention) next to ours on the same frames; printed and stored in summary.json."""
    from siam_tracker_ros.evaluation.crosscheck import compare_with_got10k

    out: dict[str, Any] = {}
    print("| tracker | AUC ours / got10k | P@20 ours / got10k |  (frame 1 kept, as got10k does)")
    for name in names:
        recs = {s.name: results.get(name, "ope", s.name) for s in sequences}
        if any(r is None for r in recs.values()):
            continue
        cmp = compare_with_got10k(
            {n: r.boxes for n, r in recs.items()},
            {s.name: s.groundtruth for s in sequences},
            {s.name: s.absent for s in sequences},
        )
        out[name] = {k: {"ours": v[0], "got10k": v[1]} for k, v in cmp.items()}
        (a, ga), (p, gp) = cmp["auc"], cmp["precision_20"]
        print(f"| {name} | {a:.4f} / {ga:.4f} | {p:.4f} / {gp:.4f} |")
    return out


#: (row label, cache name, mechanisms switched on, uses the margin-trained weights) --
#: cumulative, like the seed's ablation; the margin row appears only with --plain-weights.
ABLATION_STEPS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("baseline", "abl-baseline", (), False),
    ("+ one more search", "abl-one-more", ("one_more_search",), False),
    ("+ adaptive search", "abl-adaptive", ("one_more_search", "adaptive_search"), False),
    ("+ large margin (weights)", "abl-margin", ("one_more_search", "adaptive_search"), True),
    (
        "+ online update",
        "abl-online",
        ("one_more_search", "adaptive_search", "online_update"),
        True,
    ),
    (
        "+ lost state",
        "abl-lost",
        ("one_more_search", "adaptive_search", "online_update", "lost_state"),
        True,
    ),
)
MECHANISMS = ("online_update", "adaptive_search", "one_more_search", "lost_state")


def ablation_specs(
    config: Path,
    weights: Path | None,
    plain_weights: Path | None,
    weights_dir: Path | None,
    device: str = "cpu",
) -> list[tuple[str, TrackerSpec]]:
    """One spec per ablation row (config overrides on ``tracker.mechanisms.*.enabled``)."""
    base = (
        default_project_spec(weights_dir, config)
        if weights is None
        else TrackerSpec("project", "project", config=str(config), weights=str(weights))
    )
    rows = []
    for label, name, on, margin in ABLATION_STEPS:
        if plain_weights is None and name == "abl-margin":
            continue
        w = base.weights if (margin or plain_weights is None) else str(plain_weights)
        overrides = tuple((f"mechanisms.{m}.enabled", m in on) for m in MECHANISMS)
        rows.append(
            (
                label,
                TrackerSpec(
                    "project",
                    name,
                    config=base.config,
                    weights=w,
                    overrides=overrides,
                    device=device,
                ),
            )
        )
    return rows


def cmd_ablate(args: argparse.Namespace) -> int:
    from siam_tracker_ros.evaluation.reports import ScoreSettings, summarize, write_reports

    sequences, skipped_sequences = _load(args)
    rows = ablation_specs(
        args.config, args.weights, args.plain_weights, args.weights_dir, args.device
    )
    experiments = ["ope", args.protocol]
    results = _run_all(args, [s for _, s in rows], sequences, experiments)
    settings = ScoreSettings(burnin=args.burnin, eao_interval=args.eao_interval)
    summaries = summarize(results, sequences, [s.name for _, s in rows], settings)
    lines = [
        f"| variant ({args.protocol}) | accuracy | failures | EAO | AUC | fps |",
        "|---|---|---|---|---|---|",
    ]
    for label, spec in rows:
        s = summaries.get(spec.name)
        reset = (
            None if s is None else (s.supervised if args.protocol == "supervised" else s.realtime)
        )
        if s is None or reset is None or s.ope is None:
            reason = results.skipped.get(spec.name, "no results")
            lines.append(f"| {label} | - | - | - | - | - |  ({reason})")
            continue
        lines.append(
            f"| {label} | {reset.accuracy:.3f} | {reset.failures} | {reset.eao:.3f} | "
            f"{s.ope.auc:.3f} | {s.fps:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    meta = _meta(args, experiments)
    meta["ablation"] = {spec.name: label for label, spec in rows}
    meta["skipped_sequences"] = skipped_sequences
    write_reports(summaries, results, sequences, args.out, meta, title="SiamMargin ablation")
    (args.out / "ablation.md").write_text(table + "\n")
    print(f"wrote {args.out / 'ablation.md'}")
    return 1 if results.errors or skipped_sequences else 0
