"""Test tooling: running ROS 2 processes in a loopback-only network namespace
(:mod:`~siam_tracker_ros.testing.isolation`) and driving the node with a replay and a recorder
(:mod:`~siam_tracker_ros.testing.harness`).

Used by the tests, ``bench/`` and ``scripts/``; nothing else in the package imports it
(``test/core/test_import_layers.py`` holds that), so the node never depends on test code.
"""
