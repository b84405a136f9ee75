"""``tracker.*`` node parameters on the real tracker_node (bundled model) in real ROS 2 processes,
inside a loopback-only network namespace: the model's values as defaults, a ``-p`` override,
refused changes with their reason, and a threshold change that turns the next frames LOST."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenario_support import run_scenario_script

from siam_tracker_ros.testing.isolation import isolation_available

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace here"),
]
SCENARIO = Path(__file__).with_name("tunables_scenario.py")


def _run(tmp_path: Path) -> dict[str, Any]:
    return run_scenario_script(SCENARIO, "tunables", tmp_path, timeout=150)


def _model_values(name: str) -> dict[str, Any]:
    """The tracker.* values of a shipped checkpoint, read from its own config."""
    from siam_tracker_ros.core.config import config_from_dict
    from siam_tracker_ros.core.defaults import BUNDLED_CHECKPOINT
    from siam_tracker_ros.models.checkpoint import load_checkpoint
    from siam_tracker_ros.ros.tracker_tunables import tunable_values

    path = BUNDLED_CHECKPOINT.with_name(name)
    _, config, _ = load_checkpoint(path)
    return tunable_values(config_from_dict(config, str(path)).tracker.to_dict())


def _bundled_values() -> dict[str, Any]:
    """The tracker.* values of the bundled model, read from its checkpoint's own config."""
    from siam_tracker_ros.core.defaults import BUNDLED_CHECKPOINT

    return _model_values(BUNDLED_CHECKPOINT.name)


def test_tracker_parameters_change_the_running_tracker(tmp_path: Path) -> None:
    r = _run(tmp_path)
    log = r["node_log"]
    # defaults: the bundled model's own values; the -p overrides win
    expected = {n: v for n, v in _bundled_values().items() if n in r["start"]}
    expected.update({"tracker.patience": 7, "tracker.detect_lost": True})
    assert r["start"] == pytest.approx(expected), log[-2000:]
    # refused, with the reason in parameter names
    ok, reason = r["bad_cross"]
    assert not ok and "tracker.found_threshold" in reason and "mechanisms" not in reason, reason
    assert r["bad_range"][0] is False
    ok, reason = r["bad_word"]
    assert not ok and "redetect" in reason and "follow" in reason, reason
    # tracking before the change, LOST after it (no re-init)
    assert r["set_found"] == [True, ""] and r["set_lost"] == [True, ""], (r, log[-2000:])
    assert r["set_patience"] == [True, ""]
    index = {s: i for i, s in enumerate(r["stamps"])}
    states = [(index[s["stamp_ns"]], s["state"]) for s in r["statuses"] if s["stamp_ns"] in index]
    before = [st for i, st in states if 3 <= i < r["switch_at"]]
    after = [st for i, st in states if i >= r["switch_at"] + 1]
    assert before and all(st not in (0, 2) for st in before), states  # tracking, never LOST
    assert after and all(st == 2 for st in after), states
    assert r["end"]["tracker.lost_threshold"] == pytest.approx(1.0)
    assert r["end"]["tracker.patience"] == 1
    # another model after cleanup + configure: its own defaults, except what a user set (at
    # start-up or at run time); before, every value of the first model outlived it
    assert r["deactivate"] and r["cleanup"] and r["set_model"] == [True, ""], log[-2000:]
    assert r["configure"], log[-2000:]
    other = r["other_model"]
    nano = _model_values("siammargin_nano.pt")
    assert nano["tracker.window_influence"] != _bundled_values()["tracker.window_influence"]
    assert other["tracker.window_influence"] == pytest.approx(nano["tracker.window_influence"])
    assert other["tracker.search_while_lost"] == nano["tracker.search_while_lost"]
    assert other["tracker.patience"] == 1 and other["tracker.detect_lost"] is True  # the user's
    assert other["tracker.lost_threshold"] == pytest.approx(1.0)
