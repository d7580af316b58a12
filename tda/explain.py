"""Why a row scored as it did, in numbers and in one sentence (``Detection.explanation``).

The detector ranks each feature of a row against the series' past and combines the tail
probabilities (the smallest, Bonferroni-corrected); the rare features are the ones that set the
score. A scalar stream also applies the range rules (a value outside every past value, or far
outside the range of its recent values) and judges
its window summaries among its analogues (the nearest past states); every stream's diagram is
compared with the series' typical one: its noise band and the running typical summaries.
"""
from __future__ import annotations

RARE_FEATURES_SHOWN = 3
# Summaries of the window's diagram compared with the series' typical ones.
TYPICAL_SUMMARIES = ("h0_total_persistence", "h0_max_persistence", "h1_total_persistence", "h1_max_persistence")

FEATURE_WORDS = {
    "h0_total_persistence": "total H0 persistence (spread of the window)",
    "h0_max_persistence": "widest gap between groups of points",
    "h0_entropy": "H0 persistence entropy (evenness of the gaps)",
    "h0_newest_persistence": "distance of the newest point from the window",
    "h0_insertion_death": "distance of the newest state from every recent past state",
    "max_robust_deviation": "largest deviation of one component from the recent past",
    "value_deviation": "distance of the value from the running mean",
    "step_deviation": "size of the step from the previous value",
    "h1_total_persistence": "total H1 persistence (loops)",
    "h1_max_persistence": "longest-lived loop",
    "h1_landscape_l2": "H1 landscape norm",
    "h2_total_persistence": "total H2 persistence (voids)",
    "h2_max_persistence": "longest-lived void",
    "h2_landscape_l2": "H2 landscape norm",
}


def explain(*, score, threshold, names, tails, summaries, betti, bands, typical,
            range_before=None, recent_range_before=None, analogue_distances=None, suppressed=False) -> dict:
    """The explanation of one scored row (plain JSON types). ``range_before`` is a scalar
    row's (value, past minimum, past maximum, excess share, tolerance) for the whole-past range
    rule, ``recent_range_before`` its (recent minimum, recent maximum, rows, excess share,
    tolerance) for the recent range rule."""
    tails = list(tails)
    order = sorted(range(len(tails)), key=lambda i: tails[i])[:RARE_FEATURES_SHOWN]
    explanation = {
        "tail_probability": 1.0 - score,
        "threshold_tail": 1.0 - threshold,
        "features_ranked": len(tails),
        "rare_features": [
            {"feature": names[i], "value": float(summaries[names[i]]), "tail": float(tails[i])}
            for i in order
        ],
        "diagram": {
            "betti": list(betti),
            "noise_band": {f"h{k}": float(band) for k, band in enumerate(bands)},
            "this": {name: float(summaries[name]) for name in TYPICAL_SUMMARIES if name in summaries},
            "typical": {name: float(value) for name, value in typical.items()},
        },
    }
    if range_before is not None:
        value, low, high, excess, tolerance = range_before
        explanation["range"] = {
            "value": value, "past_min": low, "past_max": high, "excess_share": excess,
            "tolerance": tolerance, "fired": bool(excess > tolerance > 0.0),
        }
    if recent_range_before is not None:
        low, high, rows, excess, tolerance = recent_range_before
        explanation["recent_range"] = {
            "recent_min": low, "recent_max": high, "rows": rows, "excess_share": excess,
            "tolerance": tolerance, "fired": bool(excess > tolerance),
        }
    if analogue_distances is not None and len(analogue_distances):
        explanation["analogues"] = {
            "count": int(len(analogue_distances)),
            "nearest_distance": float(min(analogue_distances)),
            "farthest_distance": float(max(analogue_distances)),
        }
    explanation["text"] = sentence(explanation, score, threshold, suppressed)
    return explanation


def sentence(explanation: dict, score: float, threshold: float, suppressed: bool) -> str:
    """One plain sentence: how rare the row is, and what made it so."""
    tail = explanation["tail_probability"]
    if tail >= 0.5:
        rarity = "an ordinary row for this series"
    elif tail > 0:
        rarity = f"about 1 in {1.0 / tail:,.0f} rows of the series' past is as extreme"
    else:
        rarity = "more extreme than anything in the series' past"
    if score >= threshold:
        verdict = "inside an incident already alarmed (suppressed)" if suppressed else "alarmed"
    else:
        verdict = "below the threshold"
    parts = [f"Tail probability {tail:.2g} ({rarity}): {verdict}."]
    rare = explanation["rare_features"]
    if rare and rare[0]["tail"] < 0.5:
        words = "; ".join(
            f"{FEATURE_WORDS.get(item['feature'], item['feature'])} = {item['value']:.3g} (tail {item['tail']:.2g})"
            for item in rare if item["tail"] < 0.5
        )
        parts.append(f"Rarest features: {words}.")
    value_range = explanation.get("range")
    if value_range and value_range["fired"]:
        parts.append(outside_range(
            f"Range rule: value {value_range['value']:.4g} outside every past value",
            value_range["past_min"], value_range["past_max"], value_range["excess_share"]))
    recent = explanation.get("recent_range")
    if recent and recent["fired"]:
        parts.append(outside_range(
            f"Recent range rule: the value lies outside the range of the last {recent['rows']} values",
            recent["recent_min"], recent["recent_max"], recent["excess_share"]))
    analogues = explanation.get("analogues")
    if analogues:
        parts.append(
            f"Its {analogues['count']} nearest past states lie {analogues['nearest_distance']:.3g}–"
            f"{analogues['farthest_distance']:.3g} deviations away."
        )
    diagram = explanation["diagram"]
    b0, b1 = diagram["betti"][0], diagram["betti"][1]
    parts.append(f"Diagram: β0 = {b0}, β1 = {b1} features above the series' noise band.")
    for name in ("h0_max_persistence", "h1_max_persistence"):
        if name in diagram["this"] and diagram["typical"].get(name):
            ratio = diagram["this"][name] / diagram["typical"][name]
            parts.append(f"{FEATURE_WORDS[name].capitalize()} {ratio:.2g}× its typical value.")
    return " ".join(parts)



def outside_range(what: str, low: float, high: float, share: float) -> str:
    """A fired range rule in words: ``what``, the range it left and by how much."""
    return f"{what} [{low:.4g}, {high:.4g}] by {100 * share:.0f} % of that range."
