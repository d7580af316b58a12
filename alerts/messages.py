"""What an alert says: the JSON body of a webhook, the Slack message and the email.

The stored ``payload`` holds the config and the detection that opened the alert; the counters of
folded detections live in their own columns. They are merged here, at send time. Detections stop
being folded into a delivery once it has been attempted, so every retry sends the same body.
"""
from datetime import timezone as dt_timezone

from django.conf import settings

from anomalies.models import DeliveryKind


def iso(moment):
    if moment is None:
        return None
    return moment.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


def config_summary(config):
    return {
        "id": str(config.pk),
        "name": config.name,
        "threshold": config.threshold,
        "source_type": config.source_type,
        "cooldown_seconds": config.cooldown_seconds,
    }


def detection_summary(detection):
    return {
        "id": str(detection.pk),
        "timestamp": iso(detection.timestamp),
        "source_type": detection.source_type,
        "anomaly_score": detection.anomaly_score,
        "is_anomaly": detection.is_anomaly,
        "severity": detection.severity,
        "betti_h0": detection.betti_h0,
        "betti_h1": detection.betti_h1,
        "betti_h2": detection.betti_h2,
    }


def webhook_body(delivery):
    """The JSON document POSTed to a webhook (and the facts every other channel renders)."""
    return {
        "event": delivery.kind,
        "delivery_id": str(delivery.pk),
        "config": delivery.payload.get("config", {}),
        "detection_count": delivery.detection_count,
        "max_score": delivery.max_score,
        "first_detection_at": iso(delivery.first_detection_at),
        "last_detection_at": iso(delivery.last_detection_at),
        "detection": delivery.payload.get("detection"),
    }


def _config_name(body):
    config = body["config"]
    return config.get("name") or f"alert ≥ {config.get('threshold', 0):.2f}"


def subject(body):
    """One line: a name with line breaks would make an invalid (or injected) email header."""
    name = " ".join(_config_name(body).split())
    if body["event"] == DeliveryKind.TEST:
        return f"[TopoForge] Test notification for {name}"
    count = body["detection_count"]
    noun = "detection" if count == 1 else "detections"
    return f"[TopoForge] {name}: {count} {noun}, peak score {body['max_score']:.3f}"


def text(body):
    """A plain-text description, for email and Slack."""
    if body["event"] == DeliveryKind.TEST:
        return (
            f"This is a test notification from TopoForge for the alert \"{_config_name(body)}\".\n"
            "If you can read it, this channel works."
        )
    config, detection = body["config"], body["detection"] or {}
    source = config.get("source_type") or "any source"
    lines = [
        f"{body['detection_count']} detection(s) reached the threshold "
        f"{config.get('threshold', 0):.2f} of \"{_config_name(body)}\" ({source}).",
        f"Peak score: {body['max_score']:.3f}",
        f"First: {body['first_detection_at']}",
        f"Last: {body['last_detection_at']}",
    ]
    if detection:
        lines.append(
            f"Opening detection: {detection.get('source_type')} at {detection.get('timestamp')}, "
            f"score {detection.get('anomaly_score') or 0:.3f}, severity {detection.get('severity')}"
            f" (id {detection.get('id')})."
        )
    lines.append(f"Delivery {body['delivery_id']} · TopoForge {settings.TOPOFORGE_VERSION}")
    return "\n".join(lines)


def slack_escape(value):
    """Slack's three control characters, so a config name cannot ping ``<!channel>`` or link."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(body):
    """Slack's incoming-webhook format: ``text`` (the notification) plus a block with details."""
    return {
        "text": slack_escape(subject(body).removeprefix("[TopoForge] ")),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": subject(body)[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(text(body))[:3000]}},
        ],
    }
