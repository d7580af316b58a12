"""What a realtime client asked to receive: one source, a minimum score, anomalies only.

The same three filters serve the WebSocket ``subscribe`` message and the SSE query string, and
they are checked against the pushed JSON (live events) or turned into a queryset filter (replay).
"""
import math
from dataclasses import dataclass

SOURCE_MAX_LENGTH = 64  # AnomalyLog.source_type
TRUE_WORDS = ("true", "1")
FALSE_WORDS = ("false", "0")


class FilterError(ValueError):
    """A malformed filter; ``fields`` maps each bad filter name to its messages."""

    def __init__(self, fields):
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Subscription:
    source: str | None = None
    min_score: float | None = None
    anomalies_only: bool = False

    @classmethod
    def parse(cls, raw):
        """From a JSON object (WebSocket) or a query dict (SSE, values are strings)."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise FilterError({"subscribe": ["Expected a JSON object."]})
        unknown = sorted(set(raw) - {"source", "min_score", "anomalies_only"})
        errors = {name: ["Unknown filter."] for name in unknown}
        values = {}
        for name, parse in (
            ("source", _parse_source),
            ("min_score", _parse_score),
            ("anomalies_only", _parse_bool),
        ):
            if raw.get(name) in (None, ""):
                continue
            try:
                values[name] = parse(raw[name])
            except ValueError as error:
                errors[name] = [str(error)]
        if errors:
            raise FilterError(errors)
        return cls(**values)

    def matches(self, detection):
        """Whether the detection JSON (AnomalyLogSerializer's shape) passes every filter."""
        if self.source is not None and detection.get("source_type") != self.source:
            return False
        if self.min_score is not None and (detection.get("anomaly_score") or 0.0) < self.min_score:
            return False
        if self.anomalies_only and not detection.get("is_anomaly"):
            return False
        return True

    def filter_queryset(self, queryset):
        if self.source is not None:
            queryset = queryset.filter(source_type=self.source)
        if self.min_score is not None:
            queryset = queryset.filter(anomaly_score__gte=self.min_score)
        if self.anomalies_only:
            queryset = queryset.filter(is_anomaly=True)
        return queryset

    def as_dict(self):
        return {"source": self.source, "min_score": self.min_score, "anomalies_only": self.anomalies_only}


def _parse_source(value):
    if not isinstance(value, str):
        raise ValueError("Must be a string.")
    value = value.strip()
    if len(value) > SOURCE_MAX_LENGTH:
        raise ValueError(f"At most {SOURCE_MAX_LENGTH} characters.")
    return value


def _parse_score(value):
    if isinstance(value, bool):
        raise ValueError("Must be a number between 0 and 1.")
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise ValueError("Must be a number between 0 and 1.") from None
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise ValueError("Must be a number between 0 and 1.")
    return score


def _parse_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError("Must be true or false.")
