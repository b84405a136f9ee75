"""Evaluation toolkit: sequences (loaders), protocols (OTB one-pass, VOT supervised / real-time),
metrics, OpenCV peers, the cached parallel runner, reports, got10k cross-check and a TraX server.
See ``docs/evaluation.md``. Nothing here imports ROS; torch is imported only to build the
project's own tracker."""
