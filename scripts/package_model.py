#!/usr/bin/env python3
"""Turn a training run's ``model.pt`` into a shippable, self-describing checkpoint.

The training run stores the tracker settings it was trained under (mechanisms off); the shipped
file must carry the tracker settings it is *used* with (mechanisms and lost-state thresholds chosen
by evaluation). This script rebuilds the model from the run, loads its weights with strict key
checking, and saves it with the ``model:``/``tracker:`` sections of a tracker YAML, keeping the
training metadata (steps, data, losses) and recording where the weights came from.

    scripts/package_model.py runs/bundled/model.pt config/models/siammargin_nano.yaml \
        siam_tracker_ros/weights/siammargin_nano.pt

(how the previous default, ``siammargin_nano.pt``, was made).

Released weights (no training run) go in with ``--public`` and their provenance, e.g. the
bundled NanoTrack v3 (docs/dev/report.md):

    scripts/package_model.py --public ../shared/weights/nanotrack/pretrained_nanotrackv3.pth \
        config/models/nanotrack_v3_default.yaml siam_tracker_ros/weights/nanotrack_v3.pt \
        --meta source=HonglinChu/SiamTrackers@248663fd:NanoTrack/models/pretrained/nanotrackv3.pth \
        --meta licence=Apache-2.0
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from siam_tracker_ros.core.config import load_config
from siam_tracker_ros.models.checkpoint import (
    load_checkpoint,
    load_into,
    load_state_dict_file,
    save_checkpoint,
)
from siam_tracker_ros.models.registry import build_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_checkpoint", type=Path, help="model.pt written by siam-tracker train")
    parser.add_argument("tracker_yaml", type=Path, help="config whose model+tracker go in the file")
    parser.add_argument("output", type=Path)
    parser.add_argument(
        "--public",
        action="store_true",
        help="run_checkpoint is a released weight file (e.g. NanoTrack's .pth), not a training "
        "run: its state dict is loaded as is and --meta records where it came from",
    )
    parser.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="provenance to record in the file's meta (source, licence, attribution, ...)",
    )
    args = parser.parse_args(argv)

    cfg = load_config(args.tracker_yaml)
    model_cfg = {k: v for k, v in cfg.model.items() if k != "weights"}
    if args.public:
        state_dict = load_state_dict_file(args.run_checkpoint)
        run_meta: dict[str, object] = {}
    else:
        state_dict, run_config, run_meta = load_checkpoint(args.run_checkpoint)
        run_model = {k: v for k, v in run_config.get("model", {}).items() if k != "weights"}
        if run_model != model_cfg:
            raise SystemExit(f"model sections differ: run {run_config.get('model')} vs {model_cfg}")
    for item in args.meta:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SystemExit(f"--meta must be KEY=VALUE, got {item!r}")
        run_meta[key] = value
    model = build_model(model_cfg)
    load_into(model, state_dict)  # strict: the architecture must match exactly
    meta = dict(run_meta)
    meta["packaged_from"] = {
        "run_checkpoint": str(args.run_checkpoint),
        "run_checkpoint_sha256": hashlib.sha256(args.run_checkpoint.read_bytes()).hexdigest(),
        "tracker_yaml": str(args.tracker_yaml),
    }
    config = {
        "model": model_cfg,
        "tracker": cfg.tracker.to_dict(),
        "runtime": cfg.runtime.to_dict(),
    }
    save_checkpoint(args.output, model, config, meta)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
