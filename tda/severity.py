"""Severity bands of a calibrated anomaly score in [0, 1]."""

LOW, MEDIUM, HIGH, CRITICAL = "low", "medium", "high", "critical"
SEVERITIES = (LOW, MEDIUM, HIGH, CRITICAL)

# Lower bounds of each band, highest first. The score is a tail probability, so 0.999 means
# "rarer than one window in a thousand of the recent past".
_BANDS = ((0.999, CRITICAL), (0.99, HIGH), (0.95, MEDIUM))


def severity_for_score(score: float) -> str:
    for lower_bound, severity in _BANDS:
        if score >= lower_bound:
            return severity
    return LOW
