"""TopoForge: topological anomaly detection on live event streams."""

__version__ = "0.1.0"
