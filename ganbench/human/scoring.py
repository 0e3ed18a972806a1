"""Scoring a human study: per model, the rate at which its generated images are judged real (HYPE's
"fakes judged real"), with a Wilson 95% interval; the same rate for the real images (the ceiling a
perfect model reaches); raters excluded by the attention checks.

Pure functions of the study's definition and its judgments (``ganbench.human.study`` writes both).
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile

GENERATED, REAL, CHECK = "generated", "real", "check"
ANSWERS = ("real", "fake")


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``k / n`` (NaN, NaN when ``n == 0``)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def exclusion_rule(max_failed_checks: int) -> str:
    return (f"a rater who judges more than {max_failed_checks} attention check(s) (uniform noise) real is excluded, "
            "with all their judgments")  # fmt: skip


def first_judgments(judgments: list[dict]) -> list[dict]:
    """One judgment per (rater, item), the first one made (the server refuses repeats; this guards files)."""
    seen, out = set(), []
    for j in judgments:
        key = (j.get("rater"), j.get("item"))
        if key not in seen and j.get("answer") in ANSWERS:
            seen.add(key)
            out.append(j)
    return out


def _rate(k: int, n: int) -> dict:
    low, high = wilson_interval(k, n)
    return {"judged_real": k, "judgments": n, "rate": k / n if n else math.nan, "ci95_low": low, "ci95_high": high}


def score_study(study: dict, judgments: list[dict]) -> dict:
    """Score ``judgments`` (dicts with rater, item, answer) against ``study`` (its items and rules).

    Returns ``{"dataset", "fingerprint", "models": {model: rate}, "real": rate, "raters", "raters_excluded",
    "judgments", "exclusion_rule"}`` where a rate is ``{"judged_real", "judgments", "rate", "ci95_low",
    "ci95_high"}`` and each model's also has ``hype_infinity``: the error rate over its generated images
    and the real ones (generated judged real plus real judged fake, over both), 0.5 when people cannot tell.
    """
    items = {it["id"]: it for it in study["items"]}
    judged = [j for j in first_judgments(judgments) if j.get("item") in items]
    failed: dict[str, int] = {}
    for j in judged:
        failed.setdefault(j["rater"], 0)
        if items[j["item"]]["kind"] == CHECK and j["answer"] == "real":
            failed[j["rater"]] += 1
    limit = study["rules"]["max_failed_checks"]
    excluded = sorted(r for r, f in failed.items() if f > limit)
    kept = [j for j in judged if j["rater"] not in excluded and items[j["item"]]["kind"] != CHECK]
    counts: dict[tuple[str, str | None], list[int]] = {}
    for j in kept:
        it = items[j["item"]]
        c = counts.setdefault((it["kind"], it.get("model")), [0, 0])
        c[0] += j["answer"] == "real"
        c[1] += 1
    models = sorted({it["model"] for it in study["items"] if it["kind"] == GENERATED})
    real_k, real_n = counts.get((REAL, None), [0, 0])
    out_models = {}
    for m in models:
        k, n = counts.get((GENERATED, m), [0, 0])
        errors = k + (real_n - real_k)
        out_models[m] = {**_rate(k, n), "hype_infinity": errors / (n + real_n) if n + real_n else math.nan}
    return {"dataset": study["dataset"], "fingerprint": study["fingerprint"], "models": out_models,
            "real": _rate(real_k, real_n), "raters": len(failed) - len(excluded), "raters_excluded": excluded,
            "judgments": len(kept), "exclusion_rule": exclusion_rule(limit)}  # fmt: skip


def format_score(result: dict) -> str:
    """``--score``'s text: one line per model and one for the real images, then counts and the fingerprint."""

    def line(name: str, r: dict) -> str:
        if not r["judgments"]:
            return f"{name:<16} no judgments"
        return (f"{name:<16} {r['rate']:.3f} judged real  [{r['ci95_low']:.3f}, {r['ci95_high']:.3f}]  "
                f"({r['judged_real']}/{r['judgments']})")  # fmt: skip

    lines = [f"human evaluation of {result['dataset']}: rate judged real, Wilson 95% interval"]
    lines += [line(m, r) + (f"  HYPE-inf {r['hype_infinity']:.3f}" if r["judgments"] else "")
              for m, r in sorted(result["models"].items(), key=lambda kv: -_or_minus(kv[1]["rate"]))]  # fmt: skip
    lines.append(line("real images", result["real"]) + "  (the ceiling)")
    excluded = result["raters_excluded"]
    lines.append(f"raters {result['raters']}, judgments {result['judgments']}, excluded {len(excluded)}"
                 + (f" ({', '.join(excluded)})" if excluded else "") + f": {result['exclusion_rule']}")  # fmt: skip
    fp = result["fingerprint"]
    rules = fp["rules"]
    lines.append(f"fingerprint {fp['id']}: {fp['n_items']} items, n per model {rules['n_per_model']}, n real "
                 f"{rules['n_real']}, {rules['n_checks']} checks, order seed {rules['order_seed']}, eval seed "
                 f"{rules['eval_seed']}; {rules['exposure']}")  # fmt: skip
    return "\n".join(lines)


def _or_minus(x: float) -> float:
    return -1.0 if math.isnan(x) else x
