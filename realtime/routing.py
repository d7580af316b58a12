"""WebSocket URL routes, mounted by ``topoforge.asgi``."""
from django.urls import re_path

from realtime.consumers import AnomalyConsumer

websocket_urlpatterns = [re_path(r"^ws/anomalies/?$", AnomalyConsumer.as_asgi())]
