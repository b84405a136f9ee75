"""Shared helpers for the pysot cross-implementation fixture (``../shared/fixtures/pysot``).

The fixture stores pysot's outputs for deterministic random weights; ``fixture_lib.py`` there
regenerates those weights from a seed. These helpers load it (after checking its sha256, so a
changed generator cannot silently change what "equivalent" means), rebuild the state dicts,
check them against the stored sha256 and load them into our ``siamrpn`` model under pysot's key
names with strict checking.

Used by ``test/models/test_siamrpn_pysot.py`` (model level) and ``test/core/test_tracker_pysot.py``
(tracker level)::

    from helpers_pysot import pysot_model, reference, tracker_config
    model = pysot_model("siamrpn_alex_dwxcorr")              # calibrated weights, eval mode
    ref = reference("siamrpn_alex_dwxcorr")                    # dict of numpy arrays
    cfg = tracker_config("siamrpn_alex_dwxcorr")               # core.config.TrackerConfig

Everything skips cleanly (via ``shared_path``) when ``../shared`` is absent.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from conftest import ROOT, shared_path

from siam_tracker_ros.models.checkpoint import load_into
from siam_tracker_ros.models.siamrpn import SiamRPN, build, pysot_model_config

#: sha256 of the fixture's ``fixture_lib.py`` these tests were written against
FIXTURE_LIB_SHA256 = "69c062be68fcd72bb69857092105d1ce53b95cbf9696a144dea7226166c80281"

#: fixture config name -> (pysot experiment short name, our YAML config)
PYSOT_CONFIGS: dict[str, tuple[str, str]] = {
    "siamrpn_r50_l234_dwxcorr": ("r50_l234", "siamrpn_r50_l234.yaml"),
    "siamrpn_alex_dwxcorr": ("alex", "siamrpn_alex.yaml"),
    "siamrpn_mobilev2_l234_dwxcorr": ("mobilev2_l234", "siamrpn_mobilev2_l234.yaml"),
}


def fixture_dir(name: str | None = None) -> Path:
    """``../shared/fixtures/pysot`` (or one config's folder); skips when absent."""
    if name is not None and name not in PYSOT_CONFIGS:
        raise KeyError(f"unknown fixture config {name!r}; known: {sorted(PYSOT_CONFIGS)}")
    return (
        shared_path("fixtures", "pysot") if name is None else shared_path("fixtures", "pysot", name)
    )


@functools.lru_cache(maxsize=1)
def fixture_lib() -> ModuleType:
    """Import ``fixture_lib.py`` by path after verifying its sha256."""
    path = fixture_dir() / "fixture_lib.py"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != FIXTURE_LIB_SHA256:
        raise AssertionError(f"{path} changed: sha256 {digest} != {FIXTURE_LIB_SHA256}")
    spec = importlib.util.spec_from_file_location("pysot_fixture_lib", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def fixture_config(name: str) -> dict[str, Any]:
    """The fixture's ``config.json`` for one configuration."""
    data: dict[str, Any] = json.loads((fixture_dir(name) / "config.json").read_text())
    return data


@functools.cache
def fixture_keys(name: str) -> dict[str, tuple[int, ...]]:
    """pysot's state-dict key names and shapes (``keys.json``)."""
    data = json.loads((fixture_dir(name) / "keys.json").read_text())
    return {e["key"]: tuple(e["shape"]) for e in data["keys"]}


def reference(name: str) -> dict[str, np.ndarray]:
    """All arrays of ``reference.npz`` (loaded without pickle)."""
    with np.load(fixture_dir(name) / "reference.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@functools.lru_cache(maxsize=2)
def pysot_state_dict(name: str, calibrated: bool = True) -> dict[str, torch.Tensor]:
    """The fixture's state dict under pysot's key names, sha256-checked against ``config.json``.

    Cached (regenerating r50's 53M parameters takes seconds); callers must not modify it.
    """
    lib = fixture_lib()
    cfg = fixture_config(name)
    sd = lib.make_state_dict(fixture_keys(name))
    expected = cfg["fixture"]["state_dict_sha256"]
    got = lib.state_dict_sha256(sd)
    if got != expected:
        raise AssertionError(f"{name}: regenerated state dict sha256 {got} != {expected}")
    if calibrated:
        cal = cfg["calibrated_variant"]
        sd = lib.calibrate_state_dict(sd, cal["k_cls"], cal["k_loc"])
        got = lib.state_dict_sha256(sd)
        if got != cal["state_dict_sha256"]:
            raise AssertionError(f"{name}: calibrated sha256 {got} != {cal['state_dict_sha256']}")
    return dict(sd)


def model_config(name: str) -> dict[str, Any]:
    """Our ``model:`` section for a fixture config."""
    return pysot_model_config(PYSOT_CONFIGS[name][0])


def yaml_path(name: str) -> Path:
    """Our shipped YAML config (``config/models/...``) matching a fixture config."""
    return ROOT / "config" / "models" / PYSOT_CONFIGS[name][1]


def tracker_config(name: str) -> Any:
    """``core.config.TrackerConfig`` from our YAML for this fixture config."""
    from siam_tracker_ros.core.config import load_config

    return load_config(yaml_path(name)).tracker


def pysot_model(name: str, calibrated: bool = True) -> SiamRPN:
    """A ready ``SiamRPN`` (eval mode, CPU, float32) with the fixture weights loaded strictly."""
    model = build(model_config(name))
    load_into(model, pysot_state_dict(name, calibrated))
    return model.eval()
