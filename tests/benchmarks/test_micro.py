"""pytest-benchmark micro-benchmarks, kept out of the default run (marker `benchmark`).

    pytest tests/benchmarks -m benchmark --benchmark-enable
"""

import numpy as np
import pytest
import torch

from ganbench.config import find_baseline
from ganbench.data import load_dataset
from ganbench.environment import flush_denormals
from ganbench.metrics import feature_statistics, frechet_distance_from_stats, kernel_inception_distance, prdc
from ganbench.models import build_model

pytestmark = pytest.mark.benchmark


@pytest.mark.parametrize("model", ["gan", "wgan-gp", "vae"])
@pytest.mark.parametrize("dataset", ["ring8", "digits"])
def test_training_step(benchmark, model, dataset):
    cfg = find_baseline(model, dataset)
    data = load_dataset(dataset)
    torch.manual_seed(0)
    m = build_model(model, data.info, **cfg.model_params)
    batch = data.as_float(data.train[: cfg.train.batch_size * m.batches_per_step])
    with flush_denormals():
        losses = benchmark(m.train_step, batch)
    assert all(np.isfinite(v) for v in losses.values())


def test_classifier_features(benchmark):
    from ganbench.evaluation.extractors import get_classifier

    data = load_dataset("digits")
    clf = get_classifier(data)
    feats, probs = benchmark(clf.features_and_probs, data.train_float()[:1000])
    assert feats.shape[0] == probs.shape[0] == 1000


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2000, 512)), rng.standard_normal((2000, 512)) + 0.1


def test_frechet_from_stats_512(benchmark, features):
    a, b = features
    (mu1, s1), (mu2, s2) = feature_statistics(a), feature_statistics(b)
    assert benchmark(frechet_distance_from_stats, mu1, s1, mu2, s2) > 0


def test_kid(benchmark, features):
    a, b = features
    mean, _ = benchmark(kernel_inception_distance, a, b, subsets=10, subset_size=1000)
    assert np.isfinite(mean)


def test_prdc(benchmark, features):
    a, b = features
    assert 0 <= benchmark(prdc, a, b)["precision"] <= 1


def test_inception_features(benchmark, tmp_path):
    from ganbench.evaluation.extractors import InceptionEvaluator
    from ganbench.evaluation.extractors.inception import write_random_weights

    ev = InceptionEvaluator(weights_path=write_random_weights(tmp_path / "random-inception.pth"))
    x = torch.rand(8, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    feats, probs = benchmark.pedantic(ev.features_and_probs, args=(x,), rounds=3, warmup_rounds=1)
    assert feats.shape == (8, 2048) and np.isfinite(probs).all()
