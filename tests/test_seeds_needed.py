"""scripts/seeds_needed.py: the t-test's power against statsmodels' TTestIndPower and Cohen's (1988) table of
sample sizes, and the committed report is the published leaderboard's."""

import math

import pytest
from statsmodels.stats.power import TTestIndPower

from ganbench.results.ranking import power, seeds_needed
from scripts.seeds_needed import BOARD, OUT, pairs, report


@pytest.mark.parametrize("d, n", [(0.2, 10), (0.5, 64), (0.8, 26), (1.3, 5), (3.1, 3), (0.05, 900)])
def test_power_is_statsmodels(d, n):
    assert power(d, n) == pytest.approx(TTestIndPower().power(effect_size=d, nobs1=n, alpha=0.05), rel=1e-7)


def test_seeds_needed_is_cohens_table_and_statsmodels_solution():
    # Cohen 1988, Table 2.4.1 (two-tailed a = .05, power .80): n = 393, 64, 26 per group for d = .2, .5, .8; the
    # exact noncentral t (statsmodels, G*Power) needs 393.4 for d = .2, so 394 whole seeds
    assert [seeds_needed(d) for d in (0.2, 0.5, 0.8)] == [394, 64, 26]
    for d in (0.13, 0.37, 1.0, 1.7, 2.2, 4.0):
        assert seeds_needed(d) == max(2, math.ceil(TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8)))
    assert seeds_needed(0.0) is None and seeds_needed(0.05) is None  # 0.05 needs about 6,280: beyond the cap
    assert seeds_needed(math.inf) == 2 and seeds_needed(math.nan) is None


def test_committed_report_is_the_published_leaderboards():
    assert OUT.read_text() == report(BOARD)
    rows = pairs(__import__("pandas").read_csv(BOARD))
    # 4 datasets of 7 ranked models: 6 neighbouring pairs each; d is the difference over the pooled sd
    assert len(rows) == 24 and all(r["d"] == pytest.approx(r["diff"] / r["pooled_sd"]) for r in rows)


def test_the_readmes_figures_are_the_reports():
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    text = OUT.read_text()
    assert "a median of 27; digits' GAN and WGAN-GP 58, ring8's hinge-SN and GAN over 1,000" in readme
    assert "3 seeds separate a pair only when d is about 3.1 or more, 10 seeds about 1.4" in readme
    assert "median seeds needed per model 27" in text
    assert "d is about 3.1 or more (80% power); with 10 seeds, about 1.4" in text
    assert text.split("| digits | fd ↓ | 1-2 | gan | wgan-gp |")[1].split("\n")[0].endswith("| 58 |")
    assert text.split("| ring8 | hq_coverage ↑ | 4-5 | hinge-sn | gan |")[1].split("\n")[0].endswith("| > 1000 |")
