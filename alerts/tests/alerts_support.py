"""Test support for alerts: a real HTTP receiver on 127.0.0.1, configs and stored detections."""
import http.server
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from anomalies.models import AlertConfig, AnomalyLog
from anomalies.signals import detections_stored


def make_config(user, channels, *, threshold=0.8, source_type="", **fields):
    return AlertConfig.objects.create(
        user=user,
        name=fields.pop("name", "cpu spikes"),
        threshold=threshold,
        notification_channels=channels,
        source_type=source_type,
        **fields,
    )


def store_detections(*scores, source_type="wikipedia", at=None):
    """Store one detection per score, then announce them the way the pipeline's store does."""
    at = at or timezone.now()
    detections = [
        AnomalyLog.objects.create_log(
            timestamp=at + timedelta(seconds=index),
            source_type=source_type,
            anomaly_score=score,
            is_anomaly=score >= 0.5,
            betti_h0=1,
            betti_h1=index,
        )
        for index, score in enumerate(scores)
    ]
    detections_stored.send(sender=AnomalyLog, detections=detections)
    return detections


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict
    body: bytes


class _IPv6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@dataclass
class AlertReceiver:
    """Answers each request with the next of ``statuses`` (the last one repeats)."""

    statuses: list = field(default_factory=lambda: [200])
    host: str = "127.0.0.1"
    delay_seconds: float = 0.0
    location: str = ""
    requests: list = field(default_factory=list)

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    ReceivedRequest("POST", self.path, dict(self.headers.items()), body)
                )
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                status = receiver.statuses[index]
                time.sleep(receiver.delay_seconds)
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Type", "text/plain")
                reply = b"ok" if status < 300 else f"status {status}".encode()
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        server_class = _IPv6Server if ":" in self.host else http.server.ThreadingHTTPServer
        self.server = server_class((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self, path="/hook", host=None):
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self.port}{path}"
