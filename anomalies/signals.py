"""Signals the store sends after detections are committed.

The store knows nothing of sockets or alerts: the realtime app and the alerting code connect to
``detections_stored`` and receive the saved ``AnomalyLog`` rows (``detections=[...]``).
"""
from django.dispatch import Signal

detections_stored = Signal()
