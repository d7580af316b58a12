"""The anomalies REST API: detections (create, list, detail, stats, export) and alert configs."""
