"""The stream side: source → features → detector → store, and the ``detect`` command that runs it.

``sources`` yield plain event dicts, ``features`` turns them into event-time buckets,
``pipeline`` feeds the buckets to a ``tda.Detector`` with checkpoints, ``store`` writes the
detections in bulk (``journal`` keeps them while the database is away).
"""
