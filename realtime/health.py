"""``/healthz``: the process answers. ``/readyz``: it can do its job (503 when it cannot).

Ready means the database answers and a message makes the round trip through the channel layer
(Redis when REDIS_URL is set). The age of the last stored detection is reported, not judged: a
quiet stream is not a broken server, but a monitor can alert on it.
"""
import asyncio
import time

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from anomalies.models import AnomalyLog

CHANNEL_LAYER_TIMEOUT = 2.0


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def _elapsed_ms(started):
    return round((time.perf_counter() - started) * 1000, 1)


@sync_to_async
def check_database():
    started = time.perf_counter()
    try:
        last = AnomalyLog.objects.order_by("-created_at").values("pk", "timestamp", "created_at").first()
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}, None
    check = {"ok": True, "latency_ms": _elapsed_ms(started)}
    if last is None:
        return check, None
    return check, {
        "id": str(last["pk"]),
        "timestamp": _iso(last["timestamp"]),
        "stored_at": _iso(last["created_at"]),
        "age_seconds": round((timezone.now() - last["created_at"]).total_seconds(), 1),
    }


async def check_channel_layer():
    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "error": "CHANNEL_LAYERS is not configured"}
    started = time.perf_counter()
    try:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "readyz.ping"})
        await asyncio.wait_for(layer.receive(channel), CHANNEL_LAYER_TIMEOUT)
    except Exception as error:
        return {"ok": False, "backend": type(layer).__name__, "error": type(error).__name__}
    return {"ok": True, "backend": type(layer).__name__, "latency_ms": _elapsed_ms(started)}


@never_cache
@require_GET
async def healthz(request):
    return JsonResponse({"status": "ok", "version": settings.TOPOFORGE_VERSION, "time": _iso(timezone.now())})


@never_cache
@require_GET
async def readyz(request):
    (database, last_detection), channel_layer = await asyncio.gather(check_database(), check_channel_layer())
    ready = database["ok"] and channel_layer["ok"]
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {"database": database, "channel_layer": channel_layer},
        "last_detection": last_detection,
    }
    return JsonResponse(body, status=200 if ready else 503)
