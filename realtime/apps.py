from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime"

    def ready(self):
        from anomalies.signals import detections_stored
        from realtime.broadcast import on_detections_stored

        detections_stored.connect(on_detections_stored, dispatch_uid="realtime.broadcast")
