"""Scoring a study against hand-computed Wilson intervals and hand-counted rates."""

import math

import pytest

from ganbench.human.scoring import score_study, wilson_interval


def _wilson_by_hand(k, n, z=1.96):
    # Wilson (1927): (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), written out term by term.
    p = k / n
    a = p + z**2 / (2 * n)
    b = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    c = 1 + z**2 / n
    return (a - b) / c, (a + b) / c


def test_wilson_matches_published_and_hand_computed_values():
    # 7 of 10: the textbook example, (0.3968, 0.8922) (e.g. Newcombe 1998, Brown, Cai and DasGupta 2001).
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.3968, abs=1e-4) and high == pytest.approx(0.8922, abs=1e-4)
    for k, n in [(0, 10), (10, 10), (1, 3), (37, 80), (250, 500)]:
        assert wilson_interval(k, n) == pytest.approx(_wilson_by_hand(k, n), abs=2e-5)  # z = 1.96 vs 1.95996
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0) and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def _study():
    items = ([{"id": f"a{i}", "kind": "generated", "model": "a"} for i in range(4)]
             + [{"id": f"b{i}", "kind": "generated", "model": "b"} for i in range(4)]
             + [{"id": f"r{i}", "kind": "real", "model": None} for i in range(4)]
             + [{"id": f"c{i}", "kind": "check", "model": None} for i in range(2)])  # fmt: skip
    return {"dataset": "digits", "items": items, "rules": {"max_failed_checks": 0},
            "fingerprint": {"id": "f00"}}  # fmt: skip


def _judge(rater, answers):
    return [{"rater": rater, "item": item, "answer": a, "ms": 900} for item, a in answers.items()]


def test_rates_counts_exclusions_and_hype_infinity_by_hand():
    alice = _judge("alice", {"a0": "real", "a1": "real", "a2": "fake", "a3": "fake", "b0": "fake", "b1": "fake",
                             "b2": "fake", "b3": "real", "r0": "real", "r1": "real", "r2": "real", "r3": "fake",
                             "c0": "fake", "c1": "fake"})  # fmt: skip
    bob = _judge("bob", {"a0": "real", "a1": "fake", "r0": "fake", "c0": "fake"})  # stopped early, still counted
    # carol calls a noise check real: excluded with everything she said.
    carol = _judge("carol", {"a0": "real", "a1": "real", "a2": "real", "r0": "fake", "c0": "real", "c1": "fake"})
    repeat = _judge("alice", {"a2": "real"})  # a repeat of an item: only the first answer counts
    stray = _judge("bob", {"zz": "real"}) + [{"rater": "bob", "item": "b0", "answer": "maybe", "ms": 1}]
    res = score_study(_study(), alice + bob + carol + repeat + stray)
    a = res["models"]["a"]
    assert (a["judged_real"], a["judgments"]) == (3, 6)  # alice 2 of 4, bob 1 of 2
    assert (a["ci95_low"], a["ci95_high"]) == pytest.approx(wilson_interval(3, 6))
    assert (res["models"]["b"]["judged_real"], res["models"]["b"]["judgments"]) == (1, 4)
    assert (res["real"]["judged_real"], res["real"]["judgments"]) == (3, 5)
    assert res["real"]["rate"] == pytest.approx(0.6)
    # HYPE-infinity of a: (fakes judged real 3 + reals judged fake 2) / (6 + 5).
    assert a["hype_infinity"] == pytest.approx(5 / 11)
    assert res["raters"] == 2 and res["raters_excluded"] == ["carol"]
    assert res["judgments"] == 6 + 4 + 5
    assert "more than 0 attention check" in res["exclusion_rule"]


def test_a_model_without_judgments_has_no_rate():
    res = score_study(_study(), [])
    assert res["models"]["a"]["judgments"] == 0 and math.isnan(res["models"]["a"]["rate"])
    assert res["raters"] == 0 and res["raters_excluded"] == []
