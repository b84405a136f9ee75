"""Turn records into scores, tables, JSON, plots and overlay videos.

The comparison table has one row per tracker: OTB one-pass AUC / P@20 / normalised precision,
VOT supervised accuracy / failures / EAO, VOT real-time EAO, presence (lost-when-absent and the
long-term F-score) and speed (``1 / median track time``, decode excluded, as in PEERS.md).
When the split has target-absent frames a long-term table follows (``evaluation.longterm``:
phantom frames, false lost, re-acquisition after returns, LT precision / recall / F).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siam_tracker_ros.datasets import Sequence
from siam_tracker_ros.evaluation.longterm import (
    REACQUIRE_MIN_IOU,
    RETURN_MIN_ABSENCE,
    LongTermScores,
    longterm_scores,
)
from siam_tracker_ros.evaluation.metrics import (
    IOU_THRESHOLDS,
    PRECISION_THRESHOLDS,
    OPEScores,
    PresenceScores,
    ResetScores,
    eao,
    eao_curve,
    mean_ope,
    ope_scores,
    presence_scores,
    reset_accuracy,
    reset_segments,
)
from siam_tracker_ros.evaluation.paired import (
    PAIRED_REACQUIRE_HORIZON,
    PairedComparison,
    confident_wrong_frames,
)
from siam_tracker_ros.evaluation.protocols import RunRecord
from siam_tracker_ros.evaluation.runner import Results

__all__ = [
    "ScoreSettings",
    "TrackerSummary",
    "format_longterm_table",
    "format_paired_longterm_table",
    "format_paired_table",
    "format_table",
    "summarize",
    "write_overlay_videos",
    "write_plots",
    "write_reports",
]


@dataclass(frozen=True)
class ScoreSettings:
    """Scoring choices (not part of the record cache: change them and just re-score)."""

    burnin: int = 10  # VOT accuracy ignores this many frames from each (re)initialisation
    eao_interval: tuple[int, int] = (46, 291)  # VOT2019's sequence-length interval


@dataclass
class TrackerSummary:
    name: str
    ope: OPEScores | None = None
    ope_per_sequence: dict[str, OPEScores] = field(default_factory=dict)
    supervised: ResetScores | None = None
    realtime: ResetScores | None = None
    presence: PresenceScores | None = None
    fps: float = float("nan")  # 1 / median per-frame track time (one-pass run)
    fps_mean: float = float("nan")  # frames / total track time
    median_ms: float = float("nan")
    #: one-pass frames with the target visible, IoU 0, yet TRACKING with score >= 0.5
    confident_wrong: int | None = None
    #: long-term scores of the one-pass run; only when the sequences have absent frames
    longterm: LongTermScores | None = None
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ope": self.ope.to_dict() if self.ope else None,
            "ope_per_sequence": {k: v.to_dict() for k, v in self.ope_per_sequence.items()},
            "supervised": self.supervised.to_dict() if self.supervised else None,
            "realtime": self.realtime.to_dict() if self.realtime else None,
            "presence": self.presence.to_dict() if self.presence else None,
            "fps": self.fps,
            "fps_mean": self.fps_mean,
            "median_ms": self.median_ms,
            "confident_wrong": self.confident_wrong,
            "longterm": self.longterm.to_dict() if self.longterm else None,
            "missing": self.missing,
        }


def _reset_scores(
    results: Results, name: str, exp: str, sequences: SequenceABC[Sequence], settings: ScoreSettings
) -> ResetScores | None:
    segments = []
    per_seq: dict[str, dict[str, float]] = {}
    accs = []
    failures = 0
    for seq in sequences:
        rec = results.get(name, exp, seq.name)
        if rec is None:
            continue
        ov = rec.overlaps(seq)
        acc = reset_accuracy(ov, rec.events, settings.burnin)
        segs = reset_segments(ov, rec.events)
        segments.extend(segs)
        per_seq[seq.name] = {"accuracy": acc, "failures": rec.failures}
        if math.isfinite(acc):
            accs.append(acc)
        failures += rec.failures
    if not per_seq:
        return None
    curve = eao_curve(segments, settings.eao_interval[1])
    return ResetScores(
        accuracy=float(np.mean(accs)) if accs else float("nan"),
        failures=failures,
        eao=eao(curve, settings.eao_interval),
        eao_curve=curve,
        per_sequence=per_seq,
    )


def summarize(
    results: Results,
    sequences: SequenceABC[Sequence],
    tracker_names: SequenceABC[str],
    settings: ScoreSettings | None = None,
) -> dict[str, TrackerSummary]:
    """Scores of every tracker that has records (skipped trackers are left out)."""
    settings = settings or ScoreSettings()
    out: dict[str, TrackerSummary] = {}
    for name in tracker_names:
        if name in results.skipped:
            continue
        summ = TrackerSummary(name)
        preds, gts, absents, presents, scores_, times = [], [], [], [], [], []
        names, reported, wrongs = [], [], []
        for seq in sequences:
            rec = results.get(name, "ope", seq.name)
            if rec is None:
                continue
            summ.ope_per_sequence[seq.name] = ope_scores(rec.boxes, seq.groundtruth, seq.absent)
            wrong = confident_wrong_frames(rec, seq)
            summ.confident_wrong = (summ.confident_wrong or 0) + wrong
            names.append(seq.name)
            reported.append(rec.reports_present)
            wrongs.append(wrong)
            preds.append(rec.boxes)
            gts.append(seq.groundtruth)
            absents.append(seq.absent)
            presents.append(rec.present)
            scores_.append(rec.scores)
            times.append(rec.track_times)
        for exp in ("ope", "supervised", "realtime"):
            missing = [s.name for s in sequences if (name, exp, s.name) in results.errors]
            summ.missing.extend(f"{exp}/{m}" for m in missing)
        if summ.ope_per_sequence:
            summ.ope = mean_ope(summ.ope_per_sequence.values())
            summ.presence = presence_scores(preds, gts, absents, presents, scores_)
            # frame 1 is the init (never absent): any absent frame means a long-term split
            if any(np.asarray(a, bool).any() for a in absents):
                summ.longterm = longterm_scores(
                    names, preds, gts, absents, reported, scores_, wrongs
                )
            t = np.concatenate(times) if times else np.zeros(0)
            if len(t):
                summ.median_ms = float(np.median(t) * 1e3)
                summ.fps = float(1.0 / np.median(t)) if np.median(t) > 0 else float("inf")
                summ.fps_mean = float(len(t) / t.sum()) if t.sum() > 0 else float("inf")
        summ.supervised = _reset_scores(results, name, "supervised", sequences, settings)
        summ.realtime = _reset_scores(results, name, "realtime", sequences, settings)
        out[name] = summ
    return out


# --------------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------------


def _fmt(v: float | int | None, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if not math.isfinite(v):
        return "-"
    return f"{v:.{digits}f}"


TABLE_COLUMNS = (
    "tracker",
    "AUC",
    "P@20",
    "norm P",
    "A",
    "failures",
    "EAO",
    "RT EAO",
    "lost@absent",
    "LT-F",
    "conf-wrong",
    "fps",
)


def format_table(summaries: dict[str, TrackerSummary]) -> str:
    """The comparison table (markdown)."""
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "---|" * len(TABLE_COLUMNS),
    ]
    for s in summaries.values():
        row = [
            s.name,
            _fmt(s.ope.auc if s.ope else None),
            _fmt(s.ope.precision_20 if s.ope else None),
            _fmt(s.ope.norm_precision_02 if s.ope else None),
            _fmt(s.supervised.accuracy if s.supervised else None),
            _fmt(s.supervised.failures if s.supervised else None),
            _fmt(s.supervised.eao if s.supervised else None),
            _fmt(s.realtime.eao if s.realtime else None),
            _fmt(s.presence.lost_when_absent if s.presence else None, 2),
            _fmt(s.presence.f_score if s.presence else None),
            _fmt(s.confident_wrong),
            _fmt(s.fps, 1),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def format_paired_table(comparisons: SequenceABC[PairedComparison]) -> str:
    """Each tracker minus the baseline, per score, with the paired bootstrap 95 % interval over
    sequences (``*``: the interval excludes zero)."""
    if not comparisons:
        return ""
    base = comparisons[0].baseline
    lines = [
        f"| tracker - {base} | sequences | AUC | failures | EAO | conf-wrong |",
        "|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        cells = [
            "-" if d is None else d.format(digits)
            for d, digits in (
                (c.auc, 3),
                (c.failures, 1),
                (c.eao, 3),
                (c.confident_wrong, 0),
            )
        ]
        lines.append(f"| {c.name} | {c.sequences} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _per_sequence_table(
    summaries: dict[str, TrackerSummary], sequences: SequenceABC[Sequence]
) -> str:
    names = list(summaries)
    lines = ["| sequence | frames | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for seq in sequences:
        cells = []
        for n in names:
            sc = summaries[n].ope_per_sequence.get(seq.name)
            cells.append(_fmt(sc.auc if sc else None))
        lines.append(f"| {seq.name} | {len(seq)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _reset_table(summaries: dict[str, TrackerSummary]) -> str:
    lines = [
        "| tracker | A | failures | EAO | RT A | RT failures | RT EAO |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries.values():
        sup, rt = s.supervised, s.realtime
        lines.append(
            f"| {s.name} | {_fmt(sup.accuracy if sup else None)} | "
            f"{_fmt(sup.failures if sup else None)} | {_fmt(sup.eao if sup else None)} | "
            f"{_fmt(rt.accuracy if rt else None)} | {_fmt(rt.failures if rt else None)} | "
            f"{_fmt(rt.eao if rt else None)} |"
        )
    return "\n".join(lines)


def _presence_table(summaries: dict[str, TrackerSummary]) -> str:
    lines = [
        "| tracker | absent frames | lost@absent | present@visible | LT precision | LT recall | "
        "LT F | F max (score) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries.values():
        p = s.presence
        if p is None:
            continue
        lines.append(
            f"| {s.name} | {p.absent_frames} | {_fmt(p.lost_when_absent)} | "
            f"{_fmt(p.present_when_visible)} | {_fmt(p.precision)} | {_fmt(p.recall)} | "
            f"{_fmt(p.f_score)} | {_fmt(p.f_max)} |"
        )
    return "\n".join(lines)


def _count_of(num: int, den: int) -> str:
    """``num/den (fraction)``; ``-`` where the denominator is 0 (nothing to count)."""
    return f"{num}/{den} ({num / den:.3f})" if den else "-"


def format_longterm_table(summaries: dict[str, TrackerSummary]) -> str:
    """The long-term table (markdown), one row per tracker with long-term scores; ``""`` when
    no tracker has any (the split has no absent frame)."""
    rows = [s for s in summaries.values() if s.longterm is not None]
    if not rows:
        return ""
    horizons = rows[0].longterm.horizons  # type: ignore[union-attr]
    lines = [
        "| tracker | phantom (of absent) | false lost (of visible) | returns | "
        + " | ".join(f"re-acq <= {h}" for h in horizons)
        + " | LT P | LT R | LT F | F max (score) | conf-wrong |",
        "|---|---|---|---|" + "---|" * len(horizons) + "---|---|---|---|---|",
    ]
    for s in rows:
        lt = s.longterm
        assert lt is not None
        reacq = [_count_of(lt.reacquired(h), lt.counted(h)) for h in horizons]
        p = lt.presence
        lines.append(
            f"| {s.name} | {_count_of(lt.phantom_frames, lt.absent_frames)} | "
            f"{_count_of(lt.false_lost_frames, lt.visible_frames)} | {lt.returns} | "
            + " | ".join(reacq)
            + f" | {_fmt(p.precision)} | {_fmt(p.recall)} | {_fmt(p.f_score)} | "
            f"{_fmt(p.f_max)} | {_fmt(lt.confident_wrong)} |"
        )
    return "\n".join(lines)


def _longterm_per_sequence_table(summaries: dict[str, TrackerSummary]) -> str:
    rows = [s for s in summaries.values() if s.longterm is not None]
    if not rows:
        return ""
    horizons = rows[0].longterm.horizons  # type: ignore[union-attr]
    lines = [
        "| sequence | tracker | absent | phantom | visible | false lost | returns | "
        + " | ".join(f"re-acq <= {h}" for h in horizons)
        + " | delays | LT F | conf-wrong |",
        "|---|---|---|---|---|---|---|" + "---|" * len(horizons) + "---|---|---|",
    ]
    names = list(rows[0].longterm.per_sequence)  # type: ignore[union-attr]
    for seq_name in names:
        for s in rows:
            assert s.longterm is not None
            q = s.longterm.per_sequence.get(seq_name)
            if q is None:
                continue
            reacq = [f"{q.reacquired[h]}/{q.counted[h]}" for h in horizons]
            delays = ", ".join("never" if d is None else str(d) for d in q.delays) or "-"
            lines.append(
                f"| {seq_name} | {s.name} | {q.absent_frames} | {q.phantom_frames} | "
                f"{q.visible_frames} | {q.false_lost_frames} | {len(q.returns)} | "
                + " | ".join(reacq)
                + f" | {delays} | {_fmt(q.f_score)} | {_fmt(q.confident_wrong)} |"
            )
    return "\n".join(lines)


def format_paired_longterm_table(comparisons: SequenceABC[PairedComparison]) -> str:
    """Long-term scores, each tracker minus the baseline with the paired bootstrap interval;
    ``""`` when no comparison has long-term scores."""
    have = [c for c in comparisons if c.has_longterm]
    if not have:
        return ""
    base = have[0].baseline
    lines = [
        f"| tracker - {base} | sequences | LT F | phantom fraction | "
        f"re-acq <= {PAIRED_REACQUIRE_HORIZON} fraction | false-lost fraction |",
        "|---|---|---|---|---|---|",
    ]
    for c in have:
        cells = [
            "-" if d is None else d.format(3)
            for d in (c.lt_f, c.phantom, c.reacquired, c.false_lost)
        ]
        lines.append(f"| {c.name} | {c.sequences} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# plots and videos
# --------------------------------------------------------------------------------------------------


def write_plots(summaries: dict[str, TrackerSummary], out_dir: Path) -> list[Path]:
    """OTB success and precision plots (mean over sequences), legend sorted by score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    have = {n: s for n, s in summaries.items() if s.ope is not None}
    if not have:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in ("success", "precision"):
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
        if kind == "success":
            order = sorted(have, key=lambda n: -have[n].ope.auc)  # type: ignore[union-attr]
            for n in order:
                ope = have[n].ope
                assert ope is not None
                ax.plot(IOU_THRESHOLDS, ope.success, label=f"{n} [{ope.auc:.3f}]")
            ax.set(xlabel="overlap threshold", ylabel="success rate", xlim=(0, 1), ylim=(0, 1))
            ax.set_title("Success plot of OPE (AUC)")
        else:
            order = sorted(have, key=lambda n: -have[n].ope.precision_20)  # type: ignore[union-attr]
            for n in order:
                ope = have[n].ope
                assert ope is not None
                ax.plot(PRECISION_THRESHOLDS, ope.precision, label=f"{n} [{ope.precision_20:.3f}]")
            ax.set(
                xlabel="location error threshold (px)",
                ylabel="precision",
                xlim=(0, 50),
                ylim=(0, 1),
            )
            ax.set_title("Precision plot of OPE (P@20)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if kind == "precision" else "upper right", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{kind}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


_COLORS = [
    (0, 0, 255),
    (0, 200, 0),
    (255, 0, 0),
    (0, 200, 255),
    (255, 0, 255),
    (255, 255, 0),
    (0, 128, 255),
    (128, 0, 255),
    (128, 255, 0),
    (255, 128, 0),
]  # BGR


def _draw_box(img: np.ndarray, box: np.ndarray, color: tuple[int, int, int], thick: int) -> None:
    import cv2

    if not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
        return
    x, y, w, h = box.round().astype(int)
    cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), color, thick)


def write_overlay_videos(
    results: Results,
    sequences: SequenceABC[Sequence],
    tracker_names: SequenceABC[str],
    out_dir: Path,
    experiment: str = "ope",
    fps: float = 15.0,
    max_width: int = 960,
) -> list[Path]:
    """One video per sequence with the ground truth (white) and every tracker's box."""
    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for seq in sequences:
        recs: dict[str, RunRecord] = {}
        for n in tracker_names:
            rec = results.get(n, experiment, seq.name)
            if rec is not None:
                recs[n] = rec
        if not recs:
            continue
        first = seq.frame(0)
        scale = min(1.0, max_width / first.shape[1])
        size = (int(round(first.shape[1] * scale)), int(round(first.shape[0] * scale)))
        path = out_dir / f"{seq.name}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
        try:
            for i in range(len(seq)):
                img = cv2.resize(seq.frame(i), size) if scale != 1.0 else seq.frame(i).copy()

                if not seq.absent[i]:
                    _draw_box(img, seq.groundtruth[i] * scale, (255, 255, 255), 2)
                legend_w = 12 + 8 * max(len(n) + 7 for n in recs)
                cv2.rectangle(img, (0, 0), (legend_w, 8 + 16 * len(recs)), (0, 0, 0), -1)
                for k, (n, r) in enumerate(recs.items()):
                    color = _COLORS[k % len(_COLORS)]
                    _draw_box(img, r.boxes[i] * scale, color, 2 if r.present[i] else 1)
                    label = f"{n}{'' if r.present[i] else ' (lost)'}"
                    cv2.putText(
                        img, label, (8, 18 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1
                    )
                cv2.putText(
                    img,
                    f"#{i + 1}" + (" absent" if seq.absent[i] else ""),
                    (8, size[1] - 8),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.45,
                    (255, 255, 255),
                    1,
                )
                writer.write(img)
        finally:
            writer.release()
        paths.append(path)
    return paths


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    return obj


def write_reports(
    summaries: dict[str, TrackerSummary],
    results: Results,
    sequences: SequenceABC[Sequence],
    out_dir: Path,
    meta: dict[str, Any],
    title: str = "Tracker comparison",
    paired: SequenceABC[PairedComparison] = (),
) -> dict[str, Path]:
    """Write ``report.md``, ``summary.json`` and the plots under ``out_dir``. The report opens
    with what produced it (command, data, split, date, commit), so every table names its run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(summaries, out_dir / "plots")
    md = [f"# {title}", ""]
    run = [
        f"- {label}: {meta[key]}"
        for label, key in (
            ("date (UTC)", "date"),
            ("data", "data"),
            ("split", "split"),
            ("commit", "commit"),
            ("machine", "machine"),
        )
        if meta.get(key)
    ]
    if meta.get("command"):
        md += ["Command:", "", f"    {meta['command']}", ""]
    if run:
        md += run + [""]
    frames = sum(len(s) for s in sequences)
    md += [
        f"{len(sequences)} sequences, {frames} frames"
        + (f" from `{meta['data']}`" if meta.get("data") else "")
        + f". EAO interval {list(meta.get('eao_interval', []))}, accuracy burn-in "
        f"{meta.get('burnin')} frames, real-time at {meta.get('fps')} fps. fps = 1 / median "
        "per-frame `track` time (decode excluded) in the one-pass run.",
        "",
        format_table(summaries),
        "",
        "conf-wrong: one-pass frames where the target is visible, the box has IoU 0 with the "
        "ground truth, yet the tracker reports TRACKING with score >= 0.5.",
        "",
    ]
    if paired:
        md += [
            f"## Paired against `{paired[0].baseline}` (bootstrap 95 % interval over sequences)",
            "",
            "Delta = tracker minus baseline (AUC: mean over sequences; failures and conf-wrong: "
            "totals; EAO recomputed per resample); interval: 2.5 / 97.5 percentiles of "
            f"{meta.get('bootstrap_resamples', '')} resamples of the sequences with "
            f"replacement (seed {meta.get('bootstrap_seed', '')}); `*` = excludes zero.",
            "",
            format_paired_table(paired),
            "",
        ]
        paired_lt = format_paired_longterm_table(paired)
        if paired_lt:
            md += [
                "Long-term, paired (one-pass; LT F recomputed per resample from the mean "
                "per-sequence LT precision and recall; fractions pooled over the resampled "
                "sequences' frames or returns):",
                "",
                paired_lt,
                "",
            ]
    md += [
        "## One-pass success AUC per sequence",
        "",
        _per_sequence_table(summaries, sequences),
        "",
        "## VOT supervised and real-time",
        "",
        _reset_table(summaries),
        "",
        "## Presence (one-pass run)",
        "",
        _presence_table(summaries),
        "",
    ]
    longterm = format_longterm_table(summaries)
    if longterm:
        md += [
            "## Long-term (one-pass run)",
            "",
            "phantom: absent-target frames the tracker reports present (present flag, state not "
            "LOST); false lost: visible frames it reports not present; a return is a visible "
            f"frame after >= {RETURN_MIN_ABSENCE} consecutive absent frames; re-acq <= H: "
            "returns where, within the H frames from the return frame, the tracker reports "
            f"present with IoU > {REACQUIRE_MIN_IOU:g} (a return whose sequence ends before H "
            "frames counts only if re-acquired); LT P / R / F at the tracker's own flag, "
            "F max over score thresholds; frame 1 (init) left out.",
            "",
            longterm,
            "",
            "Per sequence (delays: frames from each return to re-acquisition):",
            "",
            _longterm_per_sequence_table(summaries),
            "",
        ]
    if plots:
        md += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    if meta.get("skipped_sequences"):
        md += (
            ["## Skipped sequences (could not be loaded)", ""]
            + [f"- {n}: {r}" for n, r in meta["skipped_sequences"].items()]
            + [""]
        )
    if results.skipped:
        md += (
            ["## Skipped trackers", ""] + [f"- {n}: {r}" for n, r in results.skipped.items()] + [""]
        )
    if results.errors:
        md += (
            ["## Errors", ""] + [f"- {'/'.join(k)}: {v}" for k, v in results.errors.items()] + [""]
        )
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md))
    summary = {
        "meta": meta,
        "sequences": [
            {"name": s.name, "frames": len(s), "absent": int(s.absent.sum())} for s in sequences
        ],
        "trackers": {n: s.to_dict() for n, s in summaries.items()},
        "paired": {c.name: c.to_dict() for c in paired},
        "skipped": results.skipped,
        "errors": {"/".join(k): v for k, v in results.errors.items()},
    }
    json_path = out_dir / "summary.json"
    json_path.write_text(json.dumps(_json_safe(summary), indent=1))
    return {"markdown": md_path, "json": json_path, **{p.stem: p for p in plots}}
