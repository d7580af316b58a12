"""``detect --workers N`` and ``detect --join KEY``: the processes around the router and workers.

``--workers N`` runs the router (``streams.router``) in its own process and starts N local
worker processes, each a ``detect --join KEY``; ``--workers 0`` only routes, for workers on
other machines. A worker started by hand anywhere with the same ``REDIS_URL`` and database joins
the same stream: the leases divide the shards among all of them (``streams.shard_worker``).
"""
import logging
import subprocess
import sys
import time
from pathlib import Path

from anomalies.models import DetectorCheckpoint
from streams.series import series_key
from streams.shards import Keys, read_config

logger = logging.getLogger(__name__)

MANAGE_PY = Path(__file__).resolve().parents[1] / "manage.py"


def discard(client, source_key):
    """``--fresh``: forget the stream in Redis and the shards' and series' checkpoints."""
    keys = Keys(source_key)
    names = list(client.scan_iter(match=keys.prefix + "*", count=1000))
    if names:
        client.delete(*names)
    DetectorCheckpoint.objects.filter(source_key__startswith=f"{source_key}@shard:").delete()
    DetectorCheckpoint.objects.filter(source_key__startswith=series_key(source_key, "")).delete()


def wait_for_config(client, source_key, stopping, timeout=None):
    """The stream's settings written by its router, waiting for the router to start."""
    keys, began, warned = Keys(source_key), time.monotonic(), False
    while not stopping.is_set():
        config = read_config(client, keys)
        if config is not None:
            return config
        if not warned:
            logger.warning("%s: no router has published this stream in Redis yet; waiting", source_key)
            warned = True
        if timeout is not None and time.monotonic() - began > timeout:
            return None
        stopping.wait(0.5)
    return None


def spawn_workers(count, source_key, options):
    """Start ``count`` ``detect --join`` processes with this process's environment."""
    args = ["--join", source_key, "--lease-seconds", str(options["lease_seconds"]),
            "--checkpoint-seconds", str(options["checkpoint_seconds"]), "--status-lines"]
    if options["status_interval"] is not None:
        args += ["--status-interval", str(options["status_interval"])]
    return [subprocess.Popen([sys.executable, str(MANAGE_PY), "detect", *args]) for _ in range(count)]


def wait_for_workers(children, stopping):
    """Wait until every child has exited; on ``stopping``, ask them to stop (SIGTERM) first."""
    asked = False
    while any(child.poll() is None for child in children):
        if stopping.is_set() and not asked:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            asked = True
        time.sleep(0.2)
    return [child.returncode for child in children]


def all_ended(client, source_key, shards):
    keys = Keys(source_key)
    return client.exists(*[keys.ended(n) for n in range(shards)]) == shards
