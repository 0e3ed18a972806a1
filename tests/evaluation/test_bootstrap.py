"""The bootstrap interval over generated samples against the real spread of a metric over fresh draws."""

import json

import numpy as np
import pytest

from ganbench.cli import main
from ganbench.data import load_dataset
from ganbench.evaluation.bootstrap import bootstrap_intervals
from ganbench.evaluation.protocol import EvalProtocol
from ganbench.metrics import GaussianStats, MetricContext, metric_specs

PARAMS = EvalProtocol("x", "x", (), n_fake=400, n_real=2000, n_modes=400)


def _ctx(gen, real):
    return MetricContext(PARAMS, real_feats=real, fake_feats=gen, real_stats=GaussianStats().update(real),
                         fake_stats=GaussianStats().update(gen))  # fmt: skip


def test_bootstrap_interval_matches_the_spread_over_fresh_samples():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((2000, 4))

    def draw():
        return 1.3 * rng.standard_normal((400, 4)) + 0.2

    specs = metric_specs("image", ["fd"])
    ci = bootstrap_intervals(specs, _ctx(draw(), real), resamples=200, seed=1)["fd"]
    fresh = [specs[0].compute(_ctx(draw(), real))["fd"] for _ in range(200)]
    # value +- 1.96 bootstrap sd against the 95% range of the metric over fresh draws of generated samples
    width, spread = ci[1] - ci[0], np.percentile(fresh, 97.5) - np.percentile(fresh, 2.5)
    assert ci[0] < ci[1] and 0.6 < width / spread < 1.6


def test_bootstrap_needs_two_resamples():
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_intervals([], _ctx(np.zeros((3, 2)), np.ones((3, 2))), resamples=1)


def test_eval_cli_reports_the_interval_apart_from_the_metrics(capsys, tmp_path):
    d = load_dataset("ring8")
    np.save(tmp_path / "p.npy", d.test[:2500].numpy())
    code = main(["eval", "--samples", str(tmp_path / "p.npy"), "--dataset", "ring8", "--json", "--bootstrap", "20",
                 "--metrics", "hq_fraction,authenticity"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["bootstrap_resamples"] == 20 and set(out["eval_ci95"]) == {"hq_fraction", "authenticity"}
    low, high = out["eval_ci95"]["hq_fraction"]
    assert low < out["metrics"]["hq_fraction"] < high and high - low < 0.02
    assert out["eval_ci95"]["hq_fraction"] == pytest.approx(
        [out["metrics"]["hq_fraction"] - (high - low) / 2, out["metrics"]["hq_fraction"] + (high - low) / 2])
