"""From features to a calibrated anomaly score in [0, 1].

Each feature (log-transformed: lengths are positive and right-skewed) is ranked against its own
recent past (:class:`EmpiricalTails`), which gives a two-sided tail probability per feature;
the features are combined with a Bonferroni bound (the smallest tail probability times the number
of features, capped at 1), which stays a valid p-value whatever the correlation between them.
The score is ``1 - p``: 0.999 means "as unusual as one row in a thousand of the recent past",
whatever the series, which is what a single threshold across series needs. :class:`AlarmGate`
then keeps one incident from alarming on every row.
"""
from __future__ import annotations

import numpy as np

# Log-transform offset: summaries are lengths in units of the stream's standard deviation.
LOG_OFFSET = 1e-3


def log_features(values: np.ndarray) -> np.ndarray:
    return np.log(LOG_OFFSET + np.maximum(values, 0.0))


def combined_tail(tails: np.ndarray) -> float:
    """Bonferroni combination: valid under any dependence between the features."""
    if len(tails) == 0:
        return 1.0
    return float(min(1.0, len(tails) * float(tails.min())))


class EmpiricalTails:
    """Two-sided tail probabilities of a feature vector against its own recent past.

    The last ``span`` values of each feature are kept. A new value's upper tail probability is
    the fraction of the past at least as large; beyond the past's 90% quantile u it is never
    below that fraction and otherwise follows the peaks-over-threshold model of extreme value
    theory (Pickands-Balkema-de Haan; the SPOT detector of Siffer et al., KDD 2017) with an
    exponential excess whose scale is the mean excess over u:
    ``P(X >= x) = 0.1 * exp(-(x - u) / mean_excess)``. The lower tail mirrors it around the 10%
    quantile. A value never seen before thus gets a finite, ordered probability; a value that
    recurs (the daily peak of a periodic series) is exactly as common as its recurrences say; and
    one probability means the same rarity in every stream, which a single threshold needs.
    The tail models are refitted every ``refit`` values. With ``upper_only`` the probability is
    the upper tail's alone (twice it, so both kinds share a scale): for distances from the past,
    where only large values are news. ``upper_only`` is one flag for every feature or one per
    feature.
    """

    TAIL_FRACTION = 0.1
    MIN_EXCESS = 0.01  # features are logarithms: excess scales below 1% are treated as 1%

    def __init__(self, n_features: int, span: int, refit: int = 16, upper_only=False):
        self.span = span
        self.refit = refit
        self.upper_only = np.broadcast_to(np.asarray(upper_only, dtype=bool), (n_features,)).copy()
        self.count = 0
        self.history = np.zeros((span, n_features))
        self.fit = np.zeros((4, n_features))  # upper u, upper scale, lower l, lower scale
        self.fitted_at = -1

    def add(self, values: np.ndarray) -> None:
        self.history[self.count % self.span] = values
        self.count += 1

    def tails(self, values: np.ndarray, learn: bool = True) -> np.ndarray:
        """Two-sided tail probability of each feature; then ``values`` join the past, unless
        ``learn`` is false (the caller then decides, and calls :meth:`add` itself)."""
        if self.count == 0:
            if learn:
                self.add(values)
            return np.ones(len(values))
        n = min(self.count, self.span)
        past = self.history[:n]
        if self.fitted_at < 0 or self.count - self.fitted_at >= self.refit:
            self._refit(past)
            self.fitted_at = self.count
        upper_u, upper_scale, lower_l, lower_scale = self.fit
        # Inside the central band both one-sided fractions are at least about TAIL_FRACTION, so
        # the two-sided probability is at least 2 * TAIL_FRACTION: counting the past is only
        # worth it for the features outside the band (usually none or one of them).
        result = np.full(len(values), min(1.0, 2.0 * self.TAIL_FRACTION))
        outside = np.nonzero((values > upper_u) | (~self.upper_only & (values < lower_l)))[0]
        if len(outside):
            v = values[outside]
            columns = past[:, outside]
            up = np.count_nonzero(columns >= v, axis=0) / n
            down = np.count_nonzero(columns <= v, axis=0) / n
            model_up = self.TAIL_FRACTION * np.exp(-np.maximum(v - upper_u[outside], 0.0) / upper_scale[outside])
            model_down = self.TAIL_FRACTION * np.exp(-np.maximum(lower_l[outside] - v, 0.0) / lower_scale[outside])
            p_up = np.maximum(up, model_up)
            p_down = np.where(self.upper_only[outside], p_up, np.maximum(down, model_down))
            result[outside] = np.minimum(1.0, 2.0 * np.minimum(p_up, p_down))
        if learn:
            self.add(values)
        return result

    def _refit(self, past: np.ndarray) -> None:
        n, width = past.shape
        k = int(n * self.TAIL_FRACTION)
        if k == 0:
            centre = np.median(past, axis=0)
            self.fit = np.stack([centre, np.full(width, self.MIN_EXCESS), centre, np.full(width, self.MIN_EXCESS)])
            return
        # A partial sort puts the k smallest before index k and the k largest after n-1-k.
        parted = np.partition(past, [k, n - 1 - k], axis=0)
        upper_u, lower_l = parted[n - 1 - k], parted[k]
        upper_scale = (parted[n - k :] - upper_u).mean(axis=0)
        lower_scale = (lower_l - parted[:k]).mean(axis=0)
        self.fit = np.stack(
            [
                upper_u,
                np.maximum(upper_scale, self.MIN_EXCESS),
                lower_l,
                np.maximum(lower_scale, self.MIN_EXCESS),
            ]
        )

    def get_state(self) -> dict:
        n = min(self.count, self.span)
        return {
            "count": self.count,
            "history": self.history[:n].tolist(),
            "fit": self.fit.tolist(),
            "fitted_at": self.fitted_at,
        }

    @classmethod
    def from_state(cls, state: dict, span: int, refit: int = 16, upper_only=False) -> "EmpiricalTails":
        fit = np.asarray(state["fit"], dtype=float)
        tails = cls(fit.shape[1], span, refit, upper_only)
        tails.count = int(state["count"])
        history = np.asarray(state["history"], dtype=float).reshape(-1, fit.shape[1])
        tails.history[: len(history)] = history
        tails.fit = fit
        tails.fitted_at = int(state["fitted_at"])
        return tails


class AlarmGate:
    """One alarm per incident.

    NAB (and an on-call human) counts every alarming row outside a true incident as a separate
    false positive, while only the first alarm of an incident is news. After an alarm the gate
    is *quiet*: scores are multiplied by ``damping`` until the incident is over, that is until
    ``calm_rows`` consecutive rows scored below ``CALM_LEVEL`` (the detector passes its window:
    an incident shapes the window's topology until it has left the window), or at most
    ``quiet_period`` rows (a state that lasts longer is the stream's new normal). A row that is
    ``BREAKTHROUGH`` times rarer than the one that raised the alarm is a new incident even
    inside the quiet period: a disk filling after a spike should not wait for the spike to fade.

    Rarity is compared only where the past measures it. An alarm whose tail probability is below
    ``measurable_tail`` (the detector passes one row in its feature history) is already rarer
    than anything the past holds: its tail is the extreme-value model's extrapolation, and a row
    a hundred times rarer than an extrapolation is the same incident deepening (a window that
    keeps flattening drives the model's tail down by orders of magnitude, row after row), so
    such an alarm admits no breakthrough.
    """

    CALM_LEVEL = 0.9  # score below which a row is unremarkable (tail probability above 0.1)
    BREAKTHROUGH = 0.01

    def __init__(
        self, threshold: float, calm_rows: int, quiet_period: int, damping: float, measurable_tail: float = 0.0
    ):
        self.threshold = threshold
        self.measurable_tail = measurable_tail
        self.calm_rows = calm_rows
        self.quiet_period = quiet_period
        self.damping = damping
        self.quiet = False
        self.calm = 0  # consecutive unremarkable rows since the alarm
        self.since = 0  # rows since the alarm
        self.alarm_tail = 1.0  # tail probability (1 - score) of the row that raised the alarm
        self.suppressed = False  # the gate's decision on the last row: inside an incident's quiet period

    def apply(self, score: float) -> float:
        """The gated score of a row whose rarity is ``score``: ``score`` itself, or ``score``
        times ``damping`` inside a quiet period (then :attr:`suppressed` is true). The gated
        score is what NAB's one-column results file ranks; what a detection stores is the
        rarity and the decision, separately."""
        self.suppressed = False
        if self.quiet:
            self.since += 1
            self.calm = self.calm + 1 if score < self.CALM_LEVEL else 0
            if self.calm >= self.calm_rows or self.since > self.quiet_period:
                self.quiet = False
            elif not self._breaks_through(score):
                self.suppressed = True
                return score * self.damping
        if score >= self.threshold:
            self.quiet, self.calm, self.since, self.alarm_tail = True, 0, 0, 1.0 - score
        return score

    @property
    def certain_alarm_tail(self) -> float:
        """A tail probability below which a row always alarms, and breaks through any quiet
        period that a measurable alarm started."""
        return self.BREAKTHROUGH * self.measurable_tail

    def _breaks_through(self, score: float) -> bool:
        return (
            score >= self.threshold
            and self.alarm_tail >= self.measurable_tail
            and 1.0 - score < self.alarm_tail * self.BREAKTHROUGH
        )

    def rearm(self) -> None:
        """End the quiet period now (the caller knows the incident is over)."""
        self.quiet = False

    def get_state(self) -> dict:
        return {"quiet": self.quiet, "calm": self.calm, "since": self.since, "alarm_tail": self.alarm_tail}

    def set_state(self, state: dict) -> None:
        if "remaining" in state:  # saved before the gate ended quiet periods on calm rows
            remaining = int(state["remaining"])
            self.quiet, self.calm, self.since = remaining > 0, 0, max(0, self.quiet_period - remaining)
            self.alarm_tail = 1.0
            return
        self.quiet = bool(state["quiet"])
        self.calm = int(state["calm"])
        self.since = int(state["since"])
        self.alarm_tail = float(state["alarm_tail"])
