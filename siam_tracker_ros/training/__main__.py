"""``python -m siam_tracker_ros.training --config X`` (also what torchrun ``-m`` runs)."""

import sys

from siam_tracker_ros.training.cli import main

sys.exit(main())
