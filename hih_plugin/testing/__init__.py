"""Drawn landmark data for the quick start, the benchmarks and the tests,
as MMPose keeps such code in ``mmpose.testing``. The library never imports
it; tests/test_layers.py checks that."""
