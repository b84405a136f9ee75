"""``bench/soak.py --away``: how each absence of the target is judged from the node's outputs,
and ``bench/bench_lifecycle_cpu.py --cycles``: how its lifecycle rounds are judged (the
bookkeeping only; the benches themselves run the real node for minutes and are benches)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest
from conftest import ROOT


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_bench", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _soak() -> ModuleType:
    return _bench("soak")


def test_each_absence_is_judged_from_the_frames_times() -> None:
    absences = _soak().Absences(away_s=2.0, every_s=10.0)
    assert not absences.hidden(1.0)  # the first period is all tracking
    assert absences.hidden(10.0) and absences.hidden(11.9) and not absences.hidden(12.0)
    frames = [
        (5.0, True, True, ""),  # tracked before any absence
        (5.1, True, False, "off"),  # reported elsewhere while visible
        (10.0, True, False, ""),  # away, still reported: the lag before letting go
        (10.1, False, False, ""),  # let go
        (10.5, True, False, "phantom"),  # reported again while still away
        (12.2, True, False, "off"),  # back, but the box is elsewhere
        (12.5, True, True, ""),  # found back on the target
        (20.0, False, False, ""),  # the second absence: let go at once...
        (22.0, False, False, ""),  # ...and not found back
    ]
    for t, present, on_target, verdict in frames:
        assert absences.observe(t, present, on_target) == verdict, t
    lt = absences.summary(until_s=40.0)
    assert lt["absences"] == 2 and lt["let_go"] == 2 and lt["found_back"] == 1
    assert lt["lag_frames"] == 1 and lt["phantom_frames"] == 1
    first, second = lt["each"]
    assert first["let_go_after_s"] == pytest.approx(0.1)
    assert first["back_after_s"] == pytest.approx(0.5)
    assert second["let_go_after_s"] == 0.0 and second["back_after_s"] is None
    assert lt["back_after_s_p50_max"] == pytest.approx([0.5, 0.5])
    # an absence whose return lies less than a period before the end is not judged
    assert absences.summary(until_s=25.0)["absences"] == 1


def test_an_absence_longer_than_its_period_is_refused() -> None:
    with pytest.raises(ValueError, match="--away 10 must lie between 0 and --every 10"):
        _soak().Absences(away_s=10.0, every_s=10.0)


def test_lifecycle_rounds_fail_on_growing_memory_or_a_thread_or_file_left_behind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from argparse import Namespace

    judge = _bench("bench_lifecycle_cpu")._print_rounds
    args = Namespace(cycle_seconds=1.0)

    def rounds(rss_step: float, threads_from: int = 99, fds_from: int = 99) -> list[dict]:
        return [
            {
                "s": 1.4,
                "rss_mib": 300.0 + (40.0 if i == 0 else 0.0) + rss_step * i,  # round 1 loads
                "threads": 21 + (i >= threads_from),
                "fds": 22 + (i >= fds_from),
            }
            for i in range(30)
        ]

    assert judge(rounds(0.0), args, 30) == 0  # round 1's load is not growth
    assert "memory after round 1: flat" in capsys.readouterr().out
    assert judge(rounds(1.0), args, 30) == 1  # ~1 MiB a round
    assert "GROWING" in capsys.readouterr().out
    assert judge(rounds(0.0, threads_from=10), args, 30) == 1
    assert "threads +1" in capsys.readouterr().out
    assert judge(rounds(0.0, fds_from=20), args, 30) == 1
