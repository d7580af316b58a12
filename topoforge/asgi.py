"""ASGI entry point: HTTP through Django, WebSocket through Channels (``realtime.routing``)."""
import os

from django.core.asgi import get_asgi_application

from topoforge.config import ConfigurationError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "topoforge.settings")
try:
    django_asgi_app = get_asgi_application()  # sets Django up before anything imports models

    from django.conf import settings

    from topoforge.startup import check_database_on_start

    if settings.TOPOFORGE_STARTUP_CHECK:
        check_database_on_start()  # logs the database in use, or fails in one line
except ConfigurationError as error:
    # The server process stops here with one line (exit status 1), not a traceback.
    raise SystemExit(f"topoforge: {error}") from None

from channels.auth import AuthMiddlewareStack  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # daphne serves the dashboard's few static files itself (no collectstatic, no proxy needed).
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
