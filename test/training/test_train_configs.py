"""The shipped training configs parse strictly, build their models and differ only where meant."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from siam_tracker_ros.core.config import load_config
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.training.config import load_train_config, train_config_from_dict
from siam_tracker_ros.training.trainer import build_model_for_training

ROOT = Path(__file__).resolve().parents[2]
TRAIN_CONFIGS = sorted((ROOT / "config" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: p.name)
def test_train_configs_parse_and_build(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    cfg = load_train_config(path)
    assert not any("data/sequences" in str(s.get("root", "")) for s in cfg.data.sources)
    model = build_model(
        {**cfg.model, "pretrained_backbone": False}
        if "pretrained_backbone" in cfg.model
        else cfg.model
    )
    assert model.head_type in ("anchor", "point")


def test_bundled_pair_differs_only_in_the_margin_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    a = yaml.safe_load((ROOT / "config/train/bundled.yaml").read_text())
    b = yaml.safe_load((ROOT / "config/train/bundled_nomargin.yaml").read_text())
    la, lb = a.pop("loss"), b.pop("loss")
    a.pop("output_dir"), b.pop("output_dir")
    assert a == b
    changed = {k for k in la if la[k] != lb.get(k)}
    assert changed == {"corr_weight", "margin_weight", "head_margin_weight"}
    assert all(lb[k] == 0 for k in changed) and all(la[k] > 0 for k in changed)


def test_bundled_init_weights_load_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import shared_path

    shared_path("weights", "nanotrack", "pretrained_nanotrackv2.pth")
    monkeypatch.chdir(ROOT)
    cfg = load_train_config(ROOT / "config/train/bundled.yaml")
    _, info = build_model_for_training(cfg)
    assert info["loaded"] > 0 and info["missing"] == 0 and info["unexpected"] == 0


def test_model_config_for_siammargin_lite_is_a_tracking_config() -> None:
    cfg = load_config(ROOT / "config/models/siammargin_lite.yaml")
    model = build_model(cfg.model)
    assert model.stride == cfg.tracker.anchor.stride
    assert cfg.tracker.score_size() == 25


def test_unknown_keys_and_the_val_split_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown key"):
        train_config_from_dict({"model": {"family": "nanotrack"}, "optim": {"lr_max": 1}})
    from siam_tracker_ros.training.sources import build_sources

    cfg = train_config_from_dict(
        {
            "model": {"family": "nanotrack"},
            "data": {"sources": [{"type": "otb", "root": "${SHARED}/data/sequences"}]},
        }
    )
    with pytest.raises(ValueError, match="validation split"):
        build_sources(cfg.data)
