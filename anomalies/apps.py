from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "anomalies"
    verbose_name = "Anomalies"

    def ready(self):
        from anomalies.alerts import matching  # noqa: F401  (connects to detections_stored)
