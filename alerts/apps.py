from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerting. Its models (``AlertConfig``, ``AlertDelivery``) keep their tables in ``anomalies``."""

    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts import matching  # noqa: F401  (connects to detections_stored)
