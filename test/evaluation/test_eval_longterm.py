"""Long-term scores (issue 26, "measured like VOT-LT"): phantom frames, false lost, returns and
re-acquisition, LT precision / recall / F, their paired intervals, and the long-term table of
``siam-tracker evaluate``. Every expected value is known by construction of the per-frame arrays.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import write_otb_sequence

from siam_tracker_ros.cli import main
from siam_tracker_ros.datasets import Sequence, load_dataset
from siam_tracker_ros.evaluation.longterm import (
    REACQUIRE_HORIZONS,
    SequenceLongTerm,
    count_reacquired,
    find_returns,
    longterm_scores,
    lt_f,
    reacquisition_delays,
    sequence_longterm,
)
from siam_tracker_ros.evaluation.metrics import presence_scores
from siam_tracker_ros.evaluation.paired import (
    confident_wrong_frames,
    paired_comparison,
    paired_delta,
    paired_longterm_deltas,
    paired_parts_delta,
)
from siam_tracker_ros.evaluation.protocols import (
    STATE_LOST,
    STATE_TRACKING,
    FrameEvent,
    RunRecord,
)
from siam_tracker_ros.evaluation.reports import (
    format_longterm_table,
    format_paired_longterm_table,
    summarize,
    write_reports,
)
from siam_tracker_ros.evaluation.runner import (
    ExperimentParams,
    Results,
    _meta,
    parse_tracker_specs,
    write_record,
)

GT = np.array([40.0, 30.0, 20.0, 16.0])
FAR = np.array([120.0, 90.0, 20.0, 16.0])  # IoU 0 with GT
STATE_AMBIGUOUS = 3


def _absent(n: int, *stretches: tuple[int, int]) -> np.ndarray:
    a = np.zeros(n, bool)
    for lo, hi in stretches:
        a[lo:hi] = True
    return a


def _gt(absent: np.ndarray) -> np.ndarray:
    return np.where(absent[:, None], 0.0, GT[None, :])


def _record(boxes: np.ndarray, reported: np.ndarray, score: float = 0.9) -> RunRecord:
    """One-pass record: frame 0 is the init on the ground truth; TRACKING where reported."""
    n = len(boxes)
    events = np.full(n, FrameEvent.TRACKED, np.int8)
    events[0] = FrameEvent.INIT
    reported = np.asarray(reported, bool)
    return RunRecord(
        boxes=np.asarray(boxes, np.float64),
        scores=np.full(n, score),
        present=reported,
        events=events,
        times=np.full(n, 0.01),
        states=np.where(reported, STATE_TRACKING, STATE_LOST),
    )


def _scenario() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """400 frames, absences [20,30), [100,110), [200,210) (returns at 30, 110, 210) and a
    4-frame one [300,304) (too short to be a return).

    - 1..19 on the target; 20..24 a box elsewhere, reported (5 phantoms); 25..39 LOST (10 false
      lost on 30..39); re-acquired at 40 (10 frames after the return at 30).
    - 40..99 on the target; LOST over 100..159 (50 false lost on 110..159); re-acquired at 160
      (50 frames after the return at 110).
    - 160..199 on the target; from 200 to the end a box elsewhere, reported: phantoms on
      [200,210) and [300,304) (14), never re-acquired after the return at 210.
    """
    n = 400
    absent = _absent(n, (20, 30), (100, 110), (200, 210), (300, 304))
    boxes = np.tile(GT, (n, 1))
    reported = np.ones(n, bool)
    boxes[20:25] = FAR
    reported[25:40] = False
    boxes[25:40] = FAR  # a LOST tracker's box is not scored as reported
    reported[100:160] = False
    boxes[100:160] = FAR
    boxes[200:] = FAR
    return absent, _gt(absent), boxes, reported


def test_find_returns_needs_five_consecutive_absent_frames() -> None:
    # absent 3..6 (4 frames), 9..13 (5), 15..20 (6, to the end: no return)
    absent = _absent(21, (3, 7), (9, 14), (15, 21))
    assert find_returns(absent).tolist() == [14]
    assert find_returns(absent, min_absence=4).tolist() == [7, 14]
    assert find_returns(np.zeros(10, bool)).tolist() == []
    with pytest.raises(ValueError):
        find_returns(absent, min_absence=0)


def test_scenario_phantoms_false_lost_returns_and_lt_scores_by_construction() -> None:
    absent, gt, boxes, reported = _scenario()
    s = sequence_longterm("s", boxes, gt, absent, reported, confident_wrong=7)
    assert (s.absent_frames, s.visible_frames) == (34, 365)  # frame 0 (init) left out
    assert s.phantom_frames == 5 + 10 + 4
    assert s.phantom_fraction == pytest.approx(19 / 34)
    assert s.false_lost_frames == 10 + 50
    assert s.false_lost_fraction == pytest.approx(60 / 365)
    assert s.returns == (30, 110, 210)
    assert s.delays == (10, 50, None)
    assert REACQUIRE_HORIZONS == (30, 90)
    # 10 frames: within 30 and 90; 50 frames: only within 90; never: neither; all windows fit
    assert (s.counted[30], s.reacquired[30]) == (3, 1)
    assert (s.counted[90], s.reacquired[90]) == (3, 2)
    assert s.reacquired_fraction(90) == pytest.approx(2 / 3)
    # reported frames 1..19, 20..24, 40..99, 160..399 = 324, IoU 1 on 19 + 60 + 40 of them
    assert s.precision == pytest.approx(119 / 324)
    assert s.recall == pytest.approx(119 / 365)
    assert s.f_score == pytest.approx(2 * (119 / 324) * (119 / 365) / (119 / 324 + 119 / 365))
    assert s.confident_wrong == 7
    # the dataset scores reuse presence_scores on the same flag: LT P / R / F agree
    lt = longterm_scores(["s"], [boxes], [gt], [absent], [reported], [np.full(400, 0.9)], [7])
    ref = presence_scores([boxes], [gt], [absent], [reported], [np.full(400, 0.9)])
    assert lt.presence == ref
    assert lt.presence.f_score == pytest.approx(s.f_score)
    assert (lt.phantom_frames, lt.absent_frames, lt.returns) == (19, 34, 3)
    assert (lt.reacquired(30), lt.counted(30), lt.reacquired(90)) == (1, 3, 2)
    assert lt.confident_wrong == 7


def test_reacquisition_needs_a_reported_overlapping_box() -> None:
    absent = _absent(40, (5, 12))  # return at 12
    gt = _gt(absent)
    boxes = np.tile(GT, (40, 1))
    boxes[12:20] = FAR  # reported but elsewhere until 20
    reported = np.ones(40, bool)
    reported[20:25] = False  # on the target but says LOST until 25
    ious = np.where(absent, 0.0, 1.0)
    ious[12:20] = 0.0
    assert reacquisition_delays(np.array([12]), reported, ious) == [13]
    # a loose overlap counts (IoU > 0); a stricter threshold waits for a better box
    boxes[25] = GT + [15.0, 0.0, 0.0, 0.0]  # IoU 5/35
    s = sequence_longterm("s", boxes, gt, absent, reported)
    assert s.delays == (13,)
    assert sequence_longterm("s", boxes, gt, absent, reported, min_iou=0.5).delays == (14,)


def test_a_return_near_the_end_counts_either_way() -> None:
    absent = _absent(60, (20, 30))  # return at 30; 30 frames left: the 30-window fits exactly
    gt = _gt(absent)
    never = sequence_longterm("n", np.tile(FAR, (60, 1)), gt, absent, np.ones(60, bool))
    assert never.delays == (None,)
    assert (never.counted[30], never.reacquired[30]) == (1, 0)
    assert (never.counted[90], never.reacquired[90]) == (1, 0)  # window cut off: still a miss
    assert never.reacquired_fraction(90) == 0.0
    boxes = np.tile(FAR, (60, 1))
    boxes[35:] = GT
    early = sequence_longterm("e", boxes, gt, absent, np.ones(60, bool))
    assert early.delays == (5,)
    assert (early.counted[90], early.reacquired[90]) == (1, 1)  # cut off, but re-acquired
    # 100 frames: re-acquired 45 frames after the return, the 90-window runs past the end
    absent = _absent(100, (20, 30))
    boxes = np.tile(FAR, (100, 1))
    boxes[75:] = GT
    late = sequence_longterm("l", boxes, _gt(absent), absent, np.ones(100, bool))
    assert late.delays == (45,)
    assert (late.counted[30], late.reacquired[30]) == (1, 0)
    assert (late.counted[90], late.reacquired[90]) == (1, 1)
    # the rule on its own
    assert count_reacquired(np.array([30]), [None], 119, 90) == (1, 0)
    assert count_reacquired(np.array([30]), [None], 120, 90) == (1, 0)
    assert count_reacquired(np.array([30]), [89], 50, 90) == (1, 1)
    assert count_reacquired(np.array([30]), [90], 200, 90) == (1, 0)


def test_no_absent_frames_gives_empty_counts_not_errors() -> None:
    n = 30
    absent = np.zeros(n, bool)
    reported = np.ones(n, bool)
    reported[10:15] = False
    s = sequence_longterm("s", np.tile(GT, (n, 1)), _gt(absent), absent, reported)
    assert (s.absent_frames, s.phantom_frames, s.returns) == (0, 0, ())
    assert math.isnan(s.phantom_fraction)
    assert s.false_lost_frames == 5
    assert s.counted == {30: 0, 90: 0} and math.isnan(s.reacquired_fraction(30))
    json.dumps(s.to_dict())  # plain types


def test_ambiguous_counts_as_present_and_lost_never_does() -> None:
    absent = _absent(8, (2, 8))
    present = np.array([1, 1, 1, 1, 0, 1, 1, 0], bool)
    states = np.array([1, 1, 3, 1, 2, 2, 1, 2])  # frame 5: present flag set but state LOST
    rec = _record(np.tile(GT, (8, 1)), present)
    rec = RunRecord(rec.boxes, rec.scores, present, rec.events, rec.times, states)
    assert rec.reports_present.tolist() == [1, 1, 1, 1, 0, 0, 1, 0]
    seq = Sequence("s", [np.zeros((4, 4, 3), np.uint8)] * 8, _gt(absent), absent)
    summ = summarize(_results({"t": {"s": rec}}), [seq], ["t"])["t"]
    assert summ.longterm is not None
    assert summ.longterm.phantom_frames == 3  # frames 2 (ambiguous), 3 and 6


def _results(records: dict[str, dict[str, RunRecord]]) -> Results:
    res = Results()
    for tracker, by_seq in records.items():
        for seq, rec in by_seq.items():
            res.records[(tracker, "ope", seq)] = rec
    return res


def test_summary_reports_and_confident_wrong_reuse(tmp_path: Path) -> None:
    absent, gt, boxes, reported = _scenario()
    seq = Sequence("lt", [np.zeros((4, 4, 3), np.uint8)] * 400, gt, absent)
    plain = Sequence("plain", [np.zeros((4, 4, 3), np.uint8)] * 20, np.tile(GT, (20, 1)))
    rec = _record(boxes, reported)
    ok = _record(np.tile(GT, (20, 1)), np.ones(20, bool))
    res = _results({"t": {"lt": rec, "plain": ok}})
    summ = summarize(res, [seq, plain], ["t"])["t"]
    lt = summ.longterm
    assert lt is not None
    # visible frames 210..299 and 304..399, box elsewhere, TRACKING at 0.9
    assert confident_wrong_frames(rec, seq) == 90 + 96
    assert lt.confident_wrong == summ.confident_wrong == 186
    assert lt.per_sequence["plain"].false_lost_frames == 0
    assert lt.visible_frames == 365 + 19
    table = format_longterm_table({"t": summ})
    assert "| t | 19/34 (0.559) | 60/384 (0.156) | 3 | 1/3 (0.333) | 2/3 (0.667) |" in table
    paths = write_reports({"t": summ}, res, [seq, plain], tmp_path, {})
    report = paths["markdown"].read_text()
    assert "## Long-term (one-pass run)" in report
    assert "| lt | t | 34 | 19 | 365 | 60 | 3 | 1/3 | 2/3 | 10, 50, never |" in report
    data = json.loads(paths["json"].read_text())["trackers"]["t"]["longterm"]
    assert data["phantom_frames"] == 19 and data["reacquired"] == {"30": 1, "90": 2}
    assert data["per_sequence"]["lt"]["reacquisition_delays"] == [10, 50, None]


def test_split_without_absent_frames_has_no_longterm_table(tmp_path: Path) -> None:
    seqs = [
        Sequence(f"p{k}", [np.zeros((4, 4, 3), np.uint8)] * 20, np.tile(GT, (20, 1)))
        for k in range(3)
    ]
    res = _results(
        {
            t: {s.name: _record(np.tile(GT, (20, 1)), np.ones(20, bool)) for s in seqs}
            for t in ("a", "b")
        }
    )
    summaries = summarize(res, seqs, ["a", "b"])
    assert summaries["a"].longterm is None
    assert format_longterm_table(summaries) == ""
    c = paired_comparison(res, seqs, "a", "b", resamples=50)
    assert not c.has_longterm and c.lt_f is None and c.auc is not None
    assert format_paired_longterm_table([c]) == ""
    paths = write_reports(summaries, res, seqs, tmp_path, {}, paired=[c])
    assert "Long-term" not in paths["markdown"].read_text()
    data = json.loads(paths["json"].read_text())
    assert data["trackers"]["a"]["longterm"] is None
    assert data["paired"]["a"]["longterm"]["phantom"] is None


def test_paired_parts_delta_of_a_mean_matches_paired_delta() -> None:
    a = np.array([0.3, 0.5, 0.9, 0.1, 0.4])
    b = np.array([0.2, 0.6, 0.7, 0.1, 0.2])
    ones = np.ones(5)
    d = paired_parts_delta(
        np.column_stack([a, ones]), np.column_stack([b, ones]), lambda s: s[:, 0] / s[:, 1]
    )
    ref = paired_delta(a, b)
    assert (d.delta, d.low, d.high) == pytest.approx((ref.delta, ref.low, ref.high))


def _lt_split(
    phantoms: list[int], false_lost: list[int], reacquire_at: list[int | None]
) -> tuple[list[Sequence], dict[str, RunRecord]]:
    """200-frame sequences, an absence [50,80) each (return at 80). Per sequence k: LOST on the
    ``false_lost[k]`` visible frames before the absence; the first ``phantoms[k]`` absent frames
    reported with a box elsewhere, the rest LOST; LOST after the return until
    ``reacquire_at[k]`` frames after it (None: to the end), then on the target."""
    seqs, recs = [], {}
    for k, (ph, fl, ra) in enumerate(zip(phantoms, false_lost, reacquire_at, strict=True)):
        absent = _absent(200, (50, 80))
        boxes = np.tile(GT, (200, 1))
        reported = np.ones(200, bool)
        reported[50 - fl : 50] = False
        boxes[50 : 50 + ph] = FAR
        reported[50 + ph : 80] = False
        reported[80 : 80 + (ra if ra is not None else 120)] = False
        seq = Sequence(f"s{k}", [np.zeros((4, 4, 3), np.uint8)] * 200, _gt(absent), absent)
        seqs.append(seq)
        recs[seq.name] = _record(boxes, reported)
    return seqs, recs


def test_paired_longterm_deltas_by_construction() -> None:
    seqs, better = _lt_split([0, 1, 0, 2, 0, 1], [0] * 6, [0, 0, 5, 0, 0, 0])
    _, worse = _lt_split([20, 25, 30, 18, 30, 22], [4] * 6, [None, 0, None, 100, 0, None])
    res = _results({"better": better, "worse": worse})
    c = paired_comparison(res, seqs, "better", "worse", resamples=500)
    assert c.has_longterm and c.sequences == 6
    assert c.phantom is not None and c.phantom.delta == pytest.approx((4 - 145) / 180)
    assert c.phantom.high < 0 and c.phantom.significant
    # better: 5 frames LOST after one return; worse: 4 before each absence and LOST after the
    # returns (120, 120 and 120 frames to the end, 100 before re-acquiring); 169 visible each
    assert c.false_lost is not None
    assert c.false_lost.delta == pytest.approx((5 - (24 + 3 * 120 + 100)) / (6 * 169))
    assert c.false_lost.high < 0

    def per_seq(recs: dict[str, RunRecord]) -> list[SequenceLongTerm]:
        return [
            sequence_longterm(
                s.name, recs[s.name].boxes, s.groundtruth, s.absent, recs[s.name].present
            )
            for s in seqs
        ]

    lt_a, lt_b = per_seq(better), per_seq(worse)
    assert [x.delays[0] for x in lt_a] == [0, 0, 5, 0, 0, 0]
    assert [x.delays[0] for x in lt_b] == [None, 0, None, 100, 0, None]
    # within 90: better 6/6, worse 2/6 (100 frames is too late; the windows all fit)
    assert c.reacquired is not None and c.reacquired.delta == pytest.approx(6 / 6 - 2 / 6)
    assert c.reacquired.low > 0
    p_a, r_a = np.mean([x.precision for x in lt_a]), np.mean([x.recall for x in lt_a])
    p_b, r_b = np.mean([x.precision for x in lt_b]), np.mean([x.recall for x in lt_b])
    assert c.lt_f is not None
    assert c.lt_f.delta == pytest.approx(float(lt_f(p_a, r_a) - lt_f(p_b, r_b)))
    assert c.lt_f.low > 0
    deltas = paired_longterm_deltas(lt_a, lt_b, resamples=500)
    assert deltas["phantom"] == c.phantom
    table = format_paired_longterm_table([c])
    assert "| better | 6 | " in table and "re-acq <= 90 fraction" in table
    with pytest.raises(ValueError):
        paired_longterm_deltas(lt_a, lt_b[:3])


def test_paired_longterm_with_absence_in_one_sequence_only() -> None:
    """Resamples that draw no absent frame have no phantom fraction: they are left out."""
    seqs, recs = _lt_split([3], [0], [0])
    plain = [
        Sequence(f"p{k}", [np.zeros((4, 4, 3), np.uint8)] * 20, np.tile(GT, (20, 1)))
        for k in range(4)
    ]
    for s in plain:
        recs[s.name] = _record(np.tile(GT, (20, 1)), np.ones(20, bool))
    other = dict(recs)
    other["s0"] = _lt_split([10], [0], [0])[1]["s0"]
    c = paired_comparison(_results({"a": recs, "b": other}), seqs + plain, "a", "b", resamples=200)
    assert c.phantom is not None and c.phantom.delta == pytest.approx((3 - 10) / 30)
    # every resample that draws s0 gives the same ratio: a zero-width interval, no NaN
    assert (c.phantom.low, c.phantom.high) == pytest.approx((c.phantom.delta, c.phantom.delta))


def _seed(out: Path, spec_text: str, seq: Sequence, rec: RunRecord) -> None:
    """Put a record where ``evaluate`` caches it, with the meta it expects: the command then
    scores these per-frame values instead of running the tracker."""
    spec = parse_tracker_specs(spec_text, out.parent / "no-weights")[0]
    meta = _meta(spec, seq, "ope", ExperimentParams())
    write_record(out / "predictions" / spec.name / "ope" / seq.name, rec, meta)


def test_evaluate_command_prints_and_writes_the_longterm_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    n = 60
    write_otb_sequence(data / "lt" / "Away", n=n, step=1, absent=range(20, 30))
    write_otb_sequence(data / "lt" / "Stay", n=20, step=1)
    seqs = {s.name: s for s in load_dataset(data, "lt")}
    assert seqs["Away"].absent.sum() == 10
    gt = seqs["Away"].groundtruth
    far = gt.copy()
    far[:] = [130.0, 100.0, 24.0, 20.0]
    # csrt: phantom on 20..24, LOST 25..34 (5 false lost), back on the target at 35
    boxes = gt.copy()
    boxes[20:35] = far[20:35]
    reported = np.ones(n, bool)
    reported[25:35] = False
    # kcf: phantom on all 10 absent frames, never back on the target
    boxes_k = gt.copy()
    boxes_k[20:] = far[20:]
    out = tmp_path / "results"
    _seed(out, "csrt", seqs["Away"], _record(boxes, reported))
    _seed(out, "kcf", seqs["Away"], _record(boxes_k, np.ones(n, bool)))
    stay = seqs["Stay"].groundtruth
    for tracker in ("csrt", "kcf"):
        _seed(out, tracker, seqs["Stay"], _record(stay, np.ones(20, bool)))
    argv = ["evaluate", "--data", str(data), "--split", "lt", "--trackers", "csrt,kcf"]
    argv += ["--weights-dir", str(tmp_path / "no-weights"), "--out", str(out), "--workers", "1"]
    argv += ["--experiments", "ope", "--no-progress", "--baseline", "kcf", "--bootstrap", "100"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    # return at 30: csrt back at 35 (5 frames), kcf never; the 30-window fits (30 + 30 <= 60),
    # the 90-window does not: every return counts, kcf's is a miss at both horizons
    assert "| csrt | 5/10 (0.500) | 5/68 (0.074) | 1 | 1/1 (1.000) | 1/1 (1.000) |" in printed
    assert "| kcf | 10/10 (1.000) | 0/68 (0.000) | 1 | 0/1 (0.000) | 0/1 (0.000) |" in printed
    assert "| csrt | 2 | " in printed and "phantom fraction" in printed
    report = (out / "report.md").read_text()
    assert "## Long-term (one-pass run)" in report
    assert "| Away | csrt | 10 | 5 | 49 | 5 | 1 | 1/1 | 1/1 | 5 |" in report
    assert "| Stay | kcf | 0 | 0 | 19 | 0 | 0 | 0/0 | 0/0 | - |" in report
    summary = json.loads((out / "summary.json").read_text())
    lt = summary["trackers"]["kcf"]["longterm"]
    assert (lt["phantom_frames"], lt["returns"], lt["reacquired"]) == (10, 1, {"30": 0, "90": 0})
    assert lt["confident_wrong"] == summary["trackers"]["kcf"]["confident_wrong"] == 30
    paired = summary["paired"]["csrt"]["longterm"]
    assert paired["phantom"]["delta"] == pytest.approx(-0.5)
    # csrt re-acquired the one return, the baseline kcf never did
    assert paired["reacquired"]["delta"] == pytest.approx(1.0)


def test_evaluate_command_without_absent_frames_prints_no_longterm_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    write_otb_sequence(data / "st" / "Plain", n=12, step=2)
    out = tmp_path / "results"
    argv = ["evaluate", "--data", str(data), "--split", "st", "--trackers", "csrt,kcf"]
    argv += ["--weights-dir", str(tmp_path / "w"), "--out", str(out), "--workers", "1"]
    argv += ["--experiments", "ope", "--no-progress", "--baseline", "kcf", "--bootstrap", "50"]
    assert main(argv) == 0  # the trackers really run here
    printed = capsys.readouterr().out
    assert "| csrt |" in printed and "Long-term" not in printed
    assert "phantom" not in printed
    assert "Long-term" not in (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trackers"]["csrt"]["longterm"] is None
