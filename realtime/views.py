"""The dashboard page, the login/logout pages around it (Django session auth), and /favicon.ico."""
from pathlib import Path

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from anomalies.models import AnomalyLog
from realtime.broadcast import serialize

INITIAL_DETECTIONS = 300
# 16 and 32 px renderings of favicon.svg. Browsers ask for /favicon.ico whatever the page links.
FAVICON = (Path(__file__).parent / "static" / "realtime" / "favicon.ico").read_bytes()


@require_GET
@login_required
def dashboard(request):
    recent = AnomalyLog.objects.order_by("-timestamp", "-pk")[:INITIAL_DETECTIONS]
    sources = AnomalyLog.objects.order_by("source_type").values_list("source_type", flat=True).distinct()
    config = {
        "websocket_path": "/ws/anomalies",
        "stats_url": "/api/anomalies/stats",
        "list_url": "/api/anomalies",
        "ping_seconds": settings.REALTIME_PING_SECONDS,
    }
    return render(
        request,
        "dashboard.html",
        {
            "initial_detections": list(reversed(serialize(recent))),
            "sources": list(sources),
            "dashboard_config": config,
        },
    )


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    redirect_authenticated_user = True
    next_page = "realtime:dashboard"


class LogoutView(auth_views.LogoutView):
    next_page = "realtime:login"


@require_GET
@cache_control(public=True, max_age=86400)
def favicon(request):
    return HttpResponse(FAVICON, content_type="image/x-icon")
