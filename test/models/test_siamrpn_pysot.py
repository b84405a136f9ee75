"""Model-level equivalence with pysot (../shared/fixtures/pysot) and weight-file handling.

The fixture holds pysot's raw ``cls``/``loc`` outputs for deterministic random weights that
``fixture_lib.py`` regenerates; we load them under pysot's key names with strict checking, so
these tests also prove that pysot's model-zoo files load into our modules unchanged.
Tolerances are the fixture README's (10-20x pysot's drift against itself).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_path
from helpers_pysot import (
    PYSOT_CONFIGS,
    fixture_config,
    fixture_keys,
    fixture_lib,
    model_config,
    pysot_model,
    pysot_state_dict,
    reference,
    tracker_config,
    yaml_path,
)

from siam_tracker_ros.core.config import load_config
from siam_tracker_ros.models.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    load_into,
    load_state_dict_file,
    save_checkpoint,
)
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.models.siamrpn import SiamRPN, SiamRPNConfig

pytestmark = pytest.mark.shared

ALEX = "siamrpn_alex_dwxcorr"
REL_TOL = 1e-5  # specified weights: max|diff| <= 1e-5 * max|ref|
ABS_TOL_CAL = 1e-4  # calibrated weights: absolute


def _rel_err(got: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(got.shape) == ref.shape
    return float(np.abs(got.detach().numpy() - ref).max() / np.abs(ref).max())


def _abs_err(got: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(got.shape) == ref.shape
    return float(np.abs(got.detach().numpy() - ref).max())


@pytest.mark.parametrize(
    "name",
    [
        ALEX,
        "siamrpn_mobilev2_l234_dwxcorr",
        "siamrpn_r50_l234_dwxcorr",  # ~5 s on one core: one backbone pass
    ],
)
def test_matches_pysot_outputs(name: str) -> None:
    """Specified and calibrated weights, one backbone pass: head inputs, cls and loc."""
    ref = reference(name)
    z, x = fixture_lib().make_inputs(ref["x"].shape[-1])
    assert np.array_equal(z.numpy(), ref["z"]) and np.array_equal(x.numpy(), ref["x"])
    model = pysot_model(name, calibrated=False)  # strict load under pysot's key names
    assert set(model.state_dict()) == set(fixture_keys(name))
    with torch.inference_mode():
        zf, xf = model.template_features(z), model.search_features(x)
        out = model.head(xf, model.make_kernels(zf))
        for i, (a, b) in enumerate(zip(zf, xf, strict=True)):
            assert _rel_err(a, ref[f"head_in_z_{i}"]) <= REL_TOL
            assert _rel_err(b, ref[f"head_in_x_{i}"]) <= REL_TOL
        assert f"head_in_z_{len(zf)}" not in ref  # same number of levels as pysot
        assert _rel_err(out.cls, ref["cls"]) <= REL_TOL
        assert _rel_err(out.loc, ref["loc"]) <= REL_TOL
        assert out.corr is not None and len(out.corr) == len(zf)

        # calibrated variant: only the last head convs differ, so reuse the features
        load_into(model, pysot_state_dict(name, calibrated=True))
        cal = model.head(xf, model.make_kernels(zf))
        assert _abs_err(cal.cls, ref["cal_cls"]) <= ABS_TOL_CAL
        assert _abs_err(cal.loc, ref["cal_loc"]) <= ABS_TOL_CAL

    # geometry the tracker and pool_cls_kernel rely on
    size_x, feat_x = ref["x"].shape[-1], xf[0].shape[-1]
    assert model.stride * (feat_x - 1) / 2 + model.feature_offset == (size_x - 1) / 2
    assert model.template_feature_size == zf[0].shape[-1]
    assert out.cls.shape[-1] == fixture_config(name)["tracker"]["score_size"]


@pytest.mark.parametrize("name", sorted(PYSOT_CONFIGS))
def test_yaml_configs_match_pysot(name: str) -> None:
    """Our shipped YAML = pysot's experiment: same model section and TRACK hyper-parameters."""
    cfg = load_config(yaml_path(name))
    assert SiamRPNConfig.from_dict(cfg.model) == SiamRPNConfig.from_dict(model_config(name))
    ref = fixture_config(name)
    track, anchor = ref["tracker"], ref["anchor"]
    tr = tracker_config(name)
    assert tr.exemplar_size == track["EXEMPLAR_SIZE"]
    assert tr.instance_size == track["INSTANCE_SIZE"]
    assert tr.base_size == track["BASE_SIZE"]
    assert tr.context_amount == track["CONTEXT_AMOUNT"]
    assert tr.penalty_k == track["PENALTY_K"]
    assert tr.window_influence == track["WINDOW_INFLUENCE"]
    assert tr.lr == track["LR"]
    assert tr.anchor.stride == anchor["STRIDE"]
    assert list(tr.anchor.ratios) == anchor["RATIOS"]
    assert list(tr.anchor.scales) == anchor["SCALES"]
    assert tr.anchor.anchor_num == build_model(cfg.model).anchor_num == anchor["ANCHOR_NUM"]
    assert tr.score_size() == track["score_size"]
    mech = tr.mechanisms
    assert not (
        mech.online_update.enabled
        or mech.adaptive_search.enabled
        or mech.one_more_search.enabled
        or mech.lost_state.enabled
    )


# --------------------------------------------------------------------------------------------------
# weight files
# --------------------------------------------------------------------------------------------------


def _alex_outputs(model: SiamRPN) -> tuple[torch.Tensor, torch.Tensor]:
    z, x = fixture_lib().make_inputs(287)
    with torch.inference_mode():
        out = model(z, x)
    return out.cls, out.loc


def test_training_snapshot_with_module_prefix_loads(tmp_path: Path) -> None:
    """pysot training snapshots: ``{'epoch', 'state_dict': {'module.<key>': ...}, 'optimizer'}``."""
    sd = pysot_state_dict(ALEX, calibrated=True)
    path = tmp_path / "checkpoint_e20.pth"
    torch.save(
        {"epoch": 20, "state_dict": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {}},
        path,
    )
    loaded = load_state_dict_file(path)
    assert set(loaded) == set(sd)
    model = build_model(model_config(ALEX)).eval()
    load_into(model, loaded)
    cls, loc = _alex_outputs(model)  # type: ignore[arg-type]
    ref = reference(ALEX)
    assert _abs_err(cls, ref["cal_cls"]) <= ABS_TOL_CAL
    assert _abs_err(loc, ref["cal_loc"]) <= ABS_TOL_CAL


def test_plain_and_model_wrapped_files_load(tmp_path: Path) -> None:
    sd = {"a.weight": torch.ones(2), "b.bias": torch.zeros(3)}
    torch.save(sd, tmp_path / "plain.pth")
    torch.save({"model": sd}, tmp_path / "wrapped.pth")
    for name in ("plain.pth", "wrapped.pth"):
        loaded = load_state_dict_file(tmp_path / name)
        assert set(loaded) == set(sd) and torch.equal(loaded["a.weight"], sd["a.weight"])


def test_wrong_keys_give_readable_error() -> None:
    sd = dict(pysot_state_dict(ALEX, calibrated=True))
    sd["rpn_head.cls.extra.weight"] = sd.pop("rpn_head.cls.head.3.weight")
    model = build_model(model_config(ALEX))
    with pytest.raises(ValueError) as info:
        load_into(model, sd)
    msg = str(info.value)
    assert "1 missing keys: rpn_head.cls.head.3.weight" in msg
    assert "1 unexpected keys: rpn_head.cls.extra.weight" in msg

    sd = dict(pysot_state_dict(ALEX, calibrated=True))
    sd["rpn_head.loc.head.3.bias"] = torch.zeros(7)
    with pytest.raises(ValueError, match=r"rpn_head\.loc\.head\.3\.bias: file \(7,\) vs model"):
        load_into(model, sd)


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_state_dict_file(missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00this is not a checkpoint" * 10)
    with pytest.raises(ValueError, match="garbage.pth"):
        load_state_dict_file(garbage)
    good = tmp_path / "good.pth"
    torch.save({"w": torch.arange(10000.0)}, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(ValueError, match="truncated.pth"):
        load_state_dict_file(truncated)
    not_weights = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_weights)
    with pytest.raises(ValueError, match="not a state dict"):
        load_state_dict_file(not_weights)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran while loading",))


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as fh:
        pickle.dump({"w": _Evil()}, fh, protocol=2)
    with pytest.raises(ValueError, match="evil.pth") as info:
        load_state_dict_file(path)
    assert "Unsupported global" in str(info.value) and "print" in str(info.value)


def test_own_checkpoint_round_trip(tmp_path: Path) -> None:
    cfg = load_config(yaml_path(ALEX))
    model = pysot_model(ALEX, calibrated=True)
    path = tmp_path / "ckpt" / "alex.pt"
    meta = {"epoch": 3, "note": "round trip", "metrics": {"eao": 0.25}}
    save_checkpoint(path, model, cfg.to_dict(), meta)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and set(raw) == {
        "format",
        "config",
        "state_dict",
        "meta",
    }
    sd, config, meta_back = load_checkpoint(path)
    assert meta_back == meta and config == cfg.to_dict()
    rebuilt = build_model(config["model"]).eval()
    load_into(rebuilt, sd)
    for a, b in zip(_alex_outputs(rebuilt), _alex_outputs(model), strict=True):  # type: ignore[arg-type]
        assert torch.equal(a, b)
    assert set(load_state_dict_file(path)) == set(sd)  # the generic loader reads it too
    with pytest.raises(TypeError, match="meta.bad"):
        save_checkpoint(tmp_path / "x.pt", model, cfg.to_dict(), {"bad": object()})
    torch.save(sd, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a siam_tracker_ros/1 checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


@pytest.mark.parametrize("version", [1, 3])
def test_nanotrack_training_checkpoint_loads(version: int) -> None:
    """NanoTrack's snapshots keep a numpy float in the optimizer; only that is allow-listed."""
    path = shared_path("weights", "nanotrack", f"pretrained_nanotrackv{version}.pth")
    sd = load_state_dict_file(path)
    assert any(k.startswith("backbone.") for k in sd)
    assert any(k.startswith("ban_head.") for k in sd)
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
