"""Each metric's definition is pinned by its version: a golden value per (metric, version).

Every registered metric is computed through its spec (the path scoring uses) on fixed small inputs and
compared with the value its current version gave when the table was filled. A change of value without a
version bump fails: stored scores of the old definition would otherwise stay "comparable" with new ones.
The independent checks against torch-fidelity, pytorch-fid and prdc elsewhere in tests/metrics tie these
definitions to the literature; this test only guards against silent changes.
"""

import numpy as np
import pytest
import torch

from ganbench.data.embedded import ring_centers
from ganbench.evaluation.protocol import EvalProtocol
from ganbench.metrics import METRIC_REGISTRY, GaussianStats, MetricContext

# {metric name: (version, {kind: value, "kind/extra": value of each number reported beside it})} on the
# inputs below, filled by running the definitions as of 2026-11-29 (is, kid, PRDC: 2026-11-30).
GOLDEN: dict[str, tuple[str, dict[str, float]]] = {
    'fd': ('1', {'image': 1.3667235541427836}),
    # is 2: splits after torch-fidelity's permutation (RandomState(2020)); kid 2: generated features first
    # and the protocol's kid_seed 2020, as torch-fidelity's calculate_metrics (both equal torch-fidelity's
    # values on these inputs); PRDC 2: the real samples are drawn by the evaluation seed when there are more
    # than prdc_n (unchanged here, where both sets hold 300: PRDC does not depend on the order).
    'is': ('2', {'image': 2.664797975253937, 'image/is_std': 0.07874769765186682}),
    'kid': ('2', {'image': 0.42020583254643923, 'image/kid_std': 0.10996844968102999}),
    'precision': ('2', {'image': 0.9866666666666667}),
    'recall': ('2', {'image': 0.66}),
    'density': ('2', {'image': 1.274}),
    'coverage': ('2', {'image': 0.9166666666666666}),
    'hq_coverage': ('1', {'points2d': 0.6383333333333334}),
    'modes_covered': ('1', {'points2d': 6.0, 'image': 9.0}),
    'hq_fraction': ('1', {'points2d': 0.89}),
    'reverse_kl': ('1', {'points2d': 0.4082659122695525}),
    'mode_kl': ('1', {'image': 0.2469567623003005}),
    # issue 15's metrics, filled 2026-11-29 (ct's cells come from scikit-learn's KMeans)
    'authenticity': ('1', {'points2d': 0.2833333333333333, 'image': 0.3233333333333333}),
    'ct': ('1', {'points2d': -3.295101722290457, 'image': -5.837519799405739}),
    'nn_ratio': ('1', {'points2d': 0.6744783387558917, 'image': 0.7827522776497253}),
    'fd_heldout': ('1', {'image': 0.6385017729005007}),
    'fd_gap': ('1', {'image': -0.007867726926409802, 'image/fd_train_matched': 0.6463694998269105}),
    'fd_inf': ('1', {'image': 1.2842138696439356, 'image/fd_inf_slope': 20.854471080513655}),
    'vendi': ('1', {'image': 7.670184510750706}),
}

PARAMS = EvalProtocol("golden", "golden", (), n_fake=300, n_real=300, n_modes=300, eval_seed=0,
                      kid_subsets=20, kid_subset_size=100, prdc_k=5, is_splits=3, threshold_sd=3.0)  # fmt: skip


def _contexts() -> dict[str, MetricContext]:
    rng = np.random.default_rng(1234)
    centers = np.asarray(ring_centers(), dtype=np.float64)
    sd = 0.05
    # Points from six of the eight modes, some far off, so coverage, quality and KL are all non-trivial.
    comp = rng.choice(6, size=300, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    points = centers[comp] + sd * rng.standard_normal((300, 2))
    points[:30] += rng.uniform(-1, 1, size=(30, 2))
    real = rng.standard_normal((300, 8))
    fake = 0.8 * rng.standard_normal((300, 8)) + 0.3
    logits = 2.0 * rng.standard_normal((300, 10))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.choice(10, size=300, p=[0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.0])
    # Memorisation inputs (drawn after the others, so their values are unchanged): a third of the generated
    # samples are near-copies of training samples.
    train_points = centers[rng.choice(8, size=600)] + sd * rng.standard_normal((600, 2))
    held_points = centers[rng.choice(8, size=300)] + sd * rng.standard_normal((300, 2))
    gen_points = np.concatenate([points[:200], train_points[:100] + 1e-3])
    held = rng.standard_normal((300, 8))
    gen = np.concatenate([fake[:200], real[:100] + 1e-3])
    return {
        "points2d": MetricContext(PARAMS, points=torch.tensor(points, dtype=torch.float32), centers=centers, sd=sd,
                                  gen_feats=gen_points, train_feats=train_points, heldout_feats=held_points),
        "image": MetricContext(PARAMS, real_feats=real, fake_feats=fake, real_stats=GaussianStats().update(real),
                               fake_stats=GaussianStats().update(fake), probs=probs, mode_labels=labels,
                               num_modes=10, gen_feats=gen, train_feats=real, heldout_feats=held),  # fmt: skip
    }


def _values(spec) -> tuple[str, dict[str, float]]:
    contexts = _contexts()
    values = {}
    for kind in spec.kinds:
        got = spec.compute(contexts[kind])
        values[kind] = float(got[spec.name])
        # Scalar extras (is_std, kid_std) are part of the definition; histograms follow from the main value.
        values.update({f"{kind}/{e}": float(got[e]) for e in spec.extras if np.ndim(got[e]) == 0})
    return spec.version, values


@pytest.mark.parametrize("name", [s.name for s in METRIC_REGISTRY.specs()])
def test_metric_value_is_pinned_by_its_version(name):
    version, value = _values(METRIC_REGISTRY.get(name))
    fix = (f"bump the version in {name!r}'s MetricSpec and set GOLDEN[{name!r}] = ({version!r} -> new "
           f"version, {value!r}) in tests/metrics/test_versions.py")  # fmt: skip
    assert name in GOLDEN, f"metric {name!r} has no golden value: add GOLDEN[{name!r}] = ({version!r}, {value!r})"
    golden_version, golden_value = GOLDEN[name]
    if version == golden_version:
        same = value.keys() == golden_value.keys() and value == pytest.approx(golden_value, rel=1e-6, abs=1e-12)
        assert same, (
            f"metric {name!r} version {version} now gives {value!r}, not {golden_value!r}: its definition "
            f"changed; {fix}")  # fmt: skip
    else:
        pytest.fail(f"metric {name!r} is version {version} but the table holds version {golden_version}: "
                    f"set GOLDEN[{name!r}] = ({version!r}, {value!r}) after checking the new definition")  # fmt: skip
