"""Typed tracker config: strict YAML loading, clear errors, checkpoint round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from siam_tracker_ros.core.config import (
    LostStateConfig,
    OnlineUpdateConfig,
    TrackerConfig,
    config_from_dict,
    load_config,
    tracker_config_from_dict,
)


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_defaults_are_pysot_r50_and_mechanisms_off() -> None:
    cfg = TrackerConfig()
    assert (cfg.exemplar_size, cfg.instance_size, cfg.base_size) == (127, 255, 8)
    assert (cfg.penalty_k, cfg.window_influence, cfg.lr) == (0.05, 0.42, 0.38)
    assert cfg.anchor.ratios == (0.33, 0.5, 1.0, 2.0, 3.0) and cfg.anchor.scales == (8.0,)
    assert cfg.score_size() == 25
    assert cfg.score_size(351) == 37
    m = cfg.mechanisms
    assert not (m.online_update.enabled or m.adaptive_search.enabled)
    assert not (m.one_more_search.enabled or m.lost_state.enabled)
    assert (m.online_update.rate, m.online_update.first_weight) == (0.18, 0.6)
    assert m.adaptive_search.large_instance_size == 351


def test_load_yaml_and_round_trip(tmp_path: Path) -> None:
    data = {
        "model": {"family": "siamrpn", "anything": [1, 2]},
        "tracker": {
            "instance_size": 287,
            "base_size": 0,
            "penalty_k": 0.16,
            "anchor": {"ratios": [0.5, 1, 2]},
            "mechanisms": {"online_update": {"enabled": True}, "lost_state": {"patience": 5}},
        },
    }
    cfg = load_config(_write(tmp_path, data))
    assert cfg.model == data["model"]
    t = cfg.tracker
    assert t.instance_size == 287 and t.anchor.ratios == (0.5, 1.0, 2.0)
    assert t.anchor.anchor_num == 3
    assert t.mechanisms.online_update.enabled and t.mechanisms.lost_state.patience == 5
    assert tracker_config_from_dict(t.to_dict()) == t
    assert config_from_dict(cfg.to_dict()) == cfg
    assert yaml.safe_load(yaml.safe_dump(cfg.to_dict())) == cfg.to_dict()  # plain values only


@pytest.mark.parametrize(
    ("tracker", "key"),
    [
        ({"penalty_kk": 0.1}, "tracker.penalty_kk"),
        ({"lr": 1.5}, "tracker.lr"),
        ({"window_influence": -0.1}, "tracker.window_influence"),
        ({"instance_size": 100}, "tracker.instance_size"),
        ({"exemplar_size": "127"}, "tracker.exemplar_size"),
        ({"min_size": float("nan")}, "tracker.min_size"),
        ({"device": "tpu"}, "runtime.device"),  # legacy key: moved to runtime:, named there
        ({"precision": "fp8"}, "runtime.precision"),
        ({"anchor": {"ratios": []}}, "tracker.anchor.ratios"),
        ({"anchor": {"stride": 0}}, "tracker.anchor.stride"),
        ({"mechanisms": {"online_update": {"rate": 2}}}, "tracker.mechanisms.online_update.rate"),
        (
            {"mechanisms": {"online_update": {"first_weight": 1.5}}},
            "tracker.mechanisms.online_update.first_weight",
        ),
        (  # the removed key, from older files: only its one consistent value is accepted
            {"mechanisms": {"online_update": {"first_weight": 0.5, "ma_weight": 0.4}}},
            "tracker.mechanisms.online_update.ma_weight",
        ),
        ({"exemplar_size": 255}, "tracker.exemplar_size"),  # disagrees with model.exemplar_size
        ({"mechanisms": {"lost_state": {"patience": 0}}}, "tracker.mechanisms.lost_state.patience"),
        (
            {"mechanisms": {"lost_state": {"lost_threshold": 0.6, "found_threshold": 0.5}}},
            "tracker.mechanisms.lost_state.found_threshold",
        ),
        (
            {"mechanisms": {"lost_state": {"redetect_widen": [0.5]}}},
            "tracker.mechanisms.lost_state.redetect_widen",
        ),
        (
            {"mechanisms": {"adaptive_search": {"enabled": "yes"}}},
            "tracker.mechanisms.adaptive_search.enabled",
        ),
        ({"mechanisms": {"teleport": {}}}, "tracker.mechanisms.teleport"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, tracker: dict, key: str) -> None:
    model = {"family": "siamrpn", "exemplar_size": 127}
    path = _write(tmp_path, {"model": model, "tracker": {"instance_size": 287, **tracker}})
    with pytest.raises(ValueError, match=key.replace(".", r"\.")) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_bad_top_level(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trackr"):
        load_config(_write(tmp_path, {"model": {"family": "x"}, "trackr": {}}))
    with pytest.raises(ValueError, match="model.family"):
        load_config(_write(tmp_path, {"model": {"backbone": 1}}))
    with pytest.raises(ValueError, match="model"):
        load_config(_write(tmp_path, {"tracker": {}}))


def test_direct_construction_validates() -> None:
    with pytest.raises(ValueError, match="rate"):
        OnlineUpdateConfig(rate=-1.0)
    with pytest.raises(ValueError, match="patience"):
        LostStateConfig(patience=0)
    with pytest.raises(ValueError, match="lr"):
        TrackerConfig(lr=3.0)


def test_two_configs_coexist() -> None:
    a = tracker_config_from_dict({"lr": 0.1})
    b = tracker_config_from_dict({"lr": 0.2})
    assert a.lr == 0.1 and b.lr == 0.2 and TrackerConfig().lr == 0.38


def test_shipped_model_configs_load() -> None:
    paths = sorted((ROOT / "config").rglob("*.yaml"))
    checked = 0
    for p in paths:
        data = yaml.safe_load(p.read_text())
        if isinstance(data, dict) and "tracker" in data and "model" in data:
            load_config(p)
            checked += 1
    if checked == 0:
        pytest.skip("no model/tracker YAML configs shipped yet")


def test_legacy_ma_weight_is_read_and_dropped() -> None:
    online = {"first_weight": 0.7, "ma_weight": 0.3, "rate": 0.1}
    cfg = tracker_config_from_dict({"mechanisms": {"online_update": online}})
    assert cfg.mechanisms.online_update.first_weight == 0.7
    assert "ma_weight" not in cfg.to_dict()["mechanisms"]["online_update"]


def test_model_and_tracker_geometry_must_agree() -> None:
    from siam_tracker_ros.core.tracker import Tracker
    from siam_tracker_ros.models.nanotrack import NanoTrack, NanoTrackConfig

    with pytest.raises(ValueError, match=r"tracker\.context_amount: 0\.4 differs from model"):
        config_from_dict(
            {
                "model": {"family": "nanotrack", "context_amount": 0.5},
                "tracker": {"context_amount": 0.4},
            }
        )
    # also for a model built in code: its config is what the tracker checks
    with pytest.raises(ValueError, match=r"tracker\.exemplar_size: 135 differs"):
        Tracker(NanoTrack(NanoTrackConfig()), TrackerConfig(exemplar_size=135, instance_size=255))


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ({"family": "siammargin_lite", "channels": 0}, r"model\.channels: must be >= 1"),
        ({"family": "siammargin_lite", "out_blocks": [4, "x"]}, r"model\.out_blocks\[1\]"),
        ({"family": "siammargin_lite", "head": "box"}, r"model\.head: must be one of"),
        ({"family": "nanotrack", "version": True}, r"model\.version"),
        ({"family": "nanotrack", "exemplar_size": 12.5}, r"model\.exemplar_size: expected an int"),
        ({"family": "nanotrack", "weights": 3}, r"model\.weights"),
    ],
)
def test_model_sections_parse_through_the_typed_builder(model: dict, match: str) -> None:
    from siam_tracker_ros.models.registry import build_model

    with pytest.raises(ValueError, match=match):
        build_model(model)
