from django.apps import AppConfig


class StreamsConfig(AppConfig):
    """The stream side: sources, features, the pipeline and the store that writes detections.

    Its models (``IngestedEvent``, ``DetectorCheckpoint``) keep their tables in ``anomalies``.
    """

    name = "streams"
    verbose_name = "Streams"
