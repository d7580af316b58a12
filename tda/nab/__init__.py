"""The Numenta Anomaly Benchmark, Django-free: reading its layout, running a detector over it
causally, writing results in NAB's format, and our implementation of NAB's scoring."""
