#!/usr/bin/env python3
"""Turn a training run's ``model.pt`` into a shippable, self-describing checkpoint.

The training run stores the tracker settings it was trained under (mechanisms off); the shipped
file must carry the tracker settings it is *used* with (mechanisms and lost-state thresholds chosen
by evaluation). This script rebuilds the model from the run, loads its weights with strict key
checking, and saves it with the ``model:``/``tracker:`` sections of a tracker YAML, keeping the
training metadata (steps, data, losses) and recording where the weights came from.

    scripts/package_model.py runs/bundled/model.pt config/models/siammargin_nano.yaml \
        siam_tracker_ros/weights/siammargin_nano.pt
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from siam_tracker_ros.core.config import load_config
from siam_tracker_ros.models.checkpoint import load_checkpoint, load_into, save_checkpoint
from siam_tracker_ros.models.registry import build_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_checkpoint", type=Path, help="model.pt written by siam-tracker train")
    parser.add_argument("tracker_yaml", type=Path, help="config whose model+tracker go in the file")
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)

    state_dict, run_config, run_meta = load_checkpoint(args.run_checkpoint)
    cfg = load_config(args.tracker_yaml)
    model_cfg = {k: v for k, v in cfg.model.items() if k != "weights"}
    if {k: v for k, v in run_config.get("model", {}).items() if k != "weights"} != model_cfg:
        raise SystemExit(f"model sections differ: run {run_config.get('model')} vs {model_cfg}")
    model = build_model(model_cfg)
    load_into(model, state_dict)  # strict: the architecture must match exactly
    meta = dict(run_meta)
    meta["packaged_from"] = {
        "run_checkpoint": str(args.run_checkpoint),
        "run_checkpoint_sha256": hashlib.sha256(args.run_checkpoint.read_bytes()).hexdigest(),
        "tracker_yaml": str(args.tracker_yaml),
    }
    config = {"model": model_cfg, "tracker": cfg.tracker.to_dict()}
    save_checkpoint(args.output, model, config, meta)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
