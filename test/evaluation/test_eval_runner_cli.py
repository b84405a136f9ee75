"""Runner cache, tracker specs, reports and the ``siam-tracker evaluate`` command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import write_otb_sequence

from siam_tracker_ros.cli import main
from siam_tracker_ros.core.config import TrackerConfig
from siam_tracker_ros.datasets import load_dataset
from siam_tracker_ros.evaluation.cli import ablation_specs
from siam_tracker_ros.evaluation.runner import (
    ExperimentParams,
    TrackerSpec,
    apply_overrides,
    parse_tracker_specs,
    read_record,
    run_all,
)


@pytest.fixture
def toy_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    write_otb_sequence(data / "sequences" / "Slow", n=20, step=2)
    write_otb_sequence(data / "sequences" / "Hidden", n=16, step=3, absent=(8, 9, 10))
    return data


def test_parse_tracker_specs(tmp_path: Path) -> None:
    specs = parse_tracker_specs(
        "csrt, mine=project:cfg.yaml:w.pth ,project:cfg.yaml,nanotrack", tmp_path
    )
    assert [s.name for s in specs] == ["csrt", "mine", "project-cfg", "nanotrack"]
    assert (specs[1].config, specs[1].weights) == ("cfg.yaml", "w.pth")
    assert specs[3].weights_dir == str(tmp_path)
    with pytest.raises(ValueError, match="unknown tracker"):
        parse_tracker_specs("goturn")
    with pytest.raises(ValueError, match="unique"):
        parse_tracker_specs("csrt,csrt")
    # plain "project" is the default config; missing files make it unavailable, not an error
    default = parse_tracker_specs("project", tmp_path, tmp_path / "none.yaml")[0]
    assert default.name == "project" and "not found" in str(default.unavailable_reason())


def test_overrides_replace_nested_frozen_config() -> None:
    cfg = TrackerConfig()
    new = apply_overrides(cfg, [("mechanisms.online_update.enabled", True), ("penalty_k", 0.04)])
    assert new.mechanisms.online_update.enabled and new.penalty_k == 0.04
    assert not cfg.mechanisms.online_update.enabled  # the original is untouched
    with pytest.raises(ValueError, match="unknown config key"):
        apply_overrides(cfg, [("mechanisms.online_updat.enabled", True)])
    with pytest.raises(ValueError):  # the dataclass still validates
        apply_overrides(cfg, [("lr", 2.0)])


def test_ablation_rows_toggle_one_mechanism_at_a_time(tmp_path: Path) -> None:
    rows = ablation_specs(tmp_path / "c.yaml", tmp_path / "margin.pth", None, None)
    assert [label for label, _ in rows][0] == "baseline"
    assert "+ large margin (weights)" not in [label for label, _ in rows]
    enabled = [{k.split(".")[1] for k, v in s.overrides if v} for _, s in rows]
    assert enabled[0] == set() and enabled[-1] == {
        "one_more_search",
        "adaptive_search",
        "online_update",
        "lost_state",
    }
    assert all(len(b - a) == 1 for a, b in zip(enabled, enabled[1:], strict=False))
    with_plain = ablation_specs(
        tmp_path / "c.yaml", tmp_path / "margin.pth", tmp_path / "plain.pth", None
    )
    weights = {label: Path(str(s.weights)).name for label, s in with_plain}
    assert (
        weights["baseline"] == "plain.pth" and weights["+ large margin (weights)"] == "margin.pth"
    )
    assert weights["+ lost state"] == "margin.pth"


def test_run_all_caches_records_and_reruns_when_settings_change(
    toy_data: Path, tmp_path: Path
) -> None:
    seqs = load_dataset(toy_data, "val")
    spec = TrackerSpec("kcf", "kcf")
    out = tmp_path / "pred"
    logs: list[str] = []
    res = run_all(
        [spec], seqs, ["ope", "supervised"], out, workers=1, progress=False, log=logs.append
    )
    assert len(res.records) == 4 and not res.errors
    folder = out / "kcf" / "supervised" / "Hidden"
    boxes = (folder / "boxes.txt").read_text().splitlines()
    assert len(boxes) == 16 and len(boxes[0].split(",")) == 4  # plain x,y,w,h lines
    assert len((folder / "present.txt").read_text().split()) == 16
    rec = read_record(folder)
    np.testing.assert_array_equal(rec.events, res.records[("kcf", "supervised", "Hidden")].events)

    stamp = (folder / "times.txt").stat().st_mtime_ns
    again = run_all(
        [spec], seqs, ["ope", "supervised"], out, workers=1, progress=False, log=logs.append
    )
    assert (folder / "times.txt").stat().st_mtime_ns == stamp  # served from the cache
    np.testing.assert_array_equal(
        again.records[("kcf", "ope", "Slow")].boxes, res.records[("kcf", "ope", "Slow")].boxes
    )
    # a protocol setting that changes records invalidates only the affected experiment
    ope_stamp = (out / "kcf" / "ope" / "Hidden" / "times.txt").stat().st_mtime_ns
    run_all(
        [spec],
        seqs,
        ["ope", "supervised"],
        out,
        ExperimentParams(skip=3),
        workers=1,
        progress=False,
        log=logs.append,
    )
    assert (folder / "times.txt").stat().st_mtime_ns != stamp
    assert (out / "kcf" / "ope" / "Hidden" / "times.txt").stat().st_mtime_ns == ope_stamp


def test_evaluate_command_end_to_end(
    toy_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    rc = main(
        [
            "evaluate",
            "--data",
            str(toy_data),
            "--split",
            "val",
            "--trackers",
            "csrt,mil,nanotrack",
            "--weights-dir",
            str(tmp_path / "no-weights"),
            "--out",
            str(out),
            "--workers",
            "2",
            "--no-progress",
            "--eao-interval",
            "1,15",
            "--videos",
            "--got10k",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| tracker | AUC |" in printed and "| csrt |" in printed
    assert "nanotrack skipped" in printed  # no weights: a note, not an error
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["trackers"]) == {"csrt", "mil"}
    csrt = summary["trackers"]["csrt"]
    assert csrt["ope"]["auc"] > 0.5 and csrt["fps"] > 0
    assert csrt["supervised"]["eao"] is not None and csrt["realtime"]["failures"] >= 0
    assert csrt["presence"]["absent_frames"] == 3
    assert "nanotrack" in summary["skipped"]
    for pair in summary["meta"]["got10k_crosscheck"]["csrt"].values():
        assert pair["ours"] == pytest.approx(pair["got10k"], abs=1e-9)
    report = (out / "report.md").read_text()
    assert "| Hidden | 16 |" in report and "Skipped trackers" in report
    for name in ("success.png", "precision.png"):
        assert (out / "plots" / name).stat().st_size > 1000
    assert (out / "videos" / "Slow.mp4").stat().st_size > 0
    assert (out / "predictions" / "mil" / "realtime" / "Slow" / "events.txt").is_file()


def test_evaluate_scores_the_sequences_it_can_load_and_names_the_rest(
    toy_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """New benchmark data with one broken sequence (ground truth one line short): the others
    are scored, the broken one is named with its reason on stderr and in the report, and the
    exit status says the run was incomplete."""
    broken = toy_data / "sequences" / "Short"
    write_otb_sequence(broken, n=6)
    lines = (broken / "groundtruth_rect.txt").read_text().splitlines()
    (broken / "groundtruth_rect.txt").write_text("\n".join(lines[:5]) + "\n")
    out = tmp_path / "results"
    args = ["evaluate", "--data", str(toy_data), "--split", "val", "--trackers", "csrt"]
    rc = main([*args, "--out", str(out), "--workers", "1", "--no-progress", "--experiments", "ope"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "note: sequence Short skipped: " in err and "6 frames but 5" in err
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary["sequences"]] == ["Hidden", "Slow"]
    assert "Short" in summary["meta"]["skipped_sequences"]
    assert "Skipped sequences" in (out / "report.md").read_text()


@pytest.mark.shared
def test_project_tracker_runs_in_the_harness_with_config_overrides() -> None:
    """The real Tracker (default config + shared NanoTrack v2 weights) under the protocols."""
    from conftest import shared_path

    from siam_tracker_ros.datasets import ImageFrames, Sequence
    from siam_tracker_ros.evaluation.protocols import run_one_pass, run_supervised
    from siam_tracker_ros.evaluation.runner import DEFAULT_PROJECT_CONFIG, default_project_spec

    if not DEFAULT_PROJECT_CONFIG.is_file():
        pytest.skip(f"{DEFAULT_PROJECT_CONFIG} not written yet")
    weights = shared_path("weights")
    full = load_dataset(shared_path("data"), "val", ["Crossing"])[0]
    assert isinstance(full.frames, ImageFrames)
    seq = Sequence("Crossing30", ImageFrames(full.frames.paths[:30]), full.groundtruth[:30])
    spec = default_project_spec(weights)
    # the default is the bundled checkpoint, which carries its own weights
    assert spec.weights is None and spec.config.endswith(".pt")
    assert spec.unavailable_reason() is None
    # a YAML naming no weights of its own gets the shared NanoTrack v2 weights
    yaml_cfg = Path(__file__).resolve().parents[2] / "config" / "models" / "nanotrack_v2.yaml"
    assert default_project_spec(weights, config=yaml_cfg).weights is not None
    rec = run_one_pass(spec.build(), seq)
    from siam_tracker_ros.evaluation.metrics import ope_scores

    assert ope_scores(rec.boxes, seq.groundtruth).auc > 0.5
    lost = TrackerSpec(
        "project",
        "p-lost",
        spec.config,
        spec.weights,
        overrides=(("mechanisms.lost_state.enabled", True),),
    ).build()
    assert lost.config.mechanisms.lost_state.enabled
    assert run_supervised(lost, seq).failures <= 1
