"""A young stream's tail probabilities, made as uncertain as they are.

A feature's tail probability is measured against its own past: with ``history_span`` rows it
can say "one row in 2,000" and the extreme-value model extrapolates from a well-filled tail;
with the 64 rows a stream has when it leaves warm-up, the same rank and the same model rest on
30 times fewer values, and the most unusual ordinary row of a short past looks as rare as a true
anomaly of a long one. NAB's false alarms crowd into the first 2,000 rows of its files for this
reason (docs/DETECTION.md, "Fewer false alarms").

The correction multiplies the row's tail probability by ``sqrt(history_span / n)`` while the
feature history holds ``n < history_span`` rows, and by 1 once it is full: the standard error of
an estimated proportion shrinks as ``1/sqrt(n)``, so the bar a young stream must clear falls
with the square root of the past it has. No constant is added: ``history_span`` is the length at
which the history is trusted already, and the square root is the standard error's.
"""
import math


def young_history_factor(count: int, history_span: int) -> float:
    """The factor a row's tail probability is multiplied by, with ``count`` rows of history."""
    if count >= history_span:
        return 1.0
    return math.sqrt(history_span / max(count, 1))


def young_history_score(score: float, count: int, history_span: int) -> float:
    """``score`` (one minus a tail probability) with its tail corrected; unchanged, bit for bit,
    once the history is full."""
    factor = young_history_factor(count, history_span)
    return score if factor == 1.0 else 1.0 - min(1.0, (1.0 - score) * factor)
