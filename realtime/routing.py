"""WebSocket URL routes, mounted by ``topoforge.asgi``."""

websocket_urlpatterns = []
