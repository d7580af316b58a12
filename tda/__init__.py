"""The topology engine. Plain numpy + scipy + ripser: no Django imports anywhere in this package.

>>> from tda import Detector, DetectorConfig
>>> detector = Detector(DetectorConfig())
>>> detection = detector.update(1700000000.0, 42.0)
"""
from .detector import Detection, Detector, DetectorConfig

__all__ = ["Detection", "Detector", "DetectorConfig"]
