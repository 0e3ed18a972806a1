"""Each metric's declared direction (``higher_is_better``, which the leaderboard ranks by) checked against
what the metric does: held-out real data must score better than a sample that is both collapsed and
partly garbage, and, for the memorisation metrics, better than a copy of training samples (a garbage
sample is novel, so it is no failure for them). Parametrized over the metric registry, so a new metric is
checked when registered.

Metrics that compare the samples with the held-out split are left out of the real-data reference row (its
samples are that split): they are checked on half the test split, with the other half held out."""

import pytest
import torch

from ganbench.data import load_dataset
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol
from ganbench.evaluation.scoring import score, score_reference
from ganbench.metrics import METRICS, metric_info, metric_names

# Their failure mode is copying, not low quality: the degraded sample for them is a copy of training data.
COPYING = ("authenticity", "ct", "nn_ratio")
# Checked elsewhere, with the reason.
EXEMPT = {"fd_gap": "its direction is checked on a copycat of the whole training set in test_generalisation.py; "
                    "a copycat of a few digits does not move the Frechet statistics"}


def _degraded_ring8(dataset, n: int) -> torch.Tensor:
    """Half the samples are real points of one mode only (collapse), half sit far off the ring (garbage)."""
    centers = torch.as_tensor(dataset.centers, dtype=torch.float32)
    nearest = torch.cdist(dataset.test, centers).argmin(dim=1)
    one_mode = dataset.test[nearest == 0]
    half = n // 2
    return torch.cat([one_mode[torch.arange(half) % len(one_mode)], torch.full((n - half, 2), 5.0)])


def _degraded_digits(dataset, n: int) -> torch.Tensor:
    """Half the samples are real zeros only (collapse), half are all-white images (garbage)."""
    zeros = dataset.test_float()[dataset.test_labels == 0]
    half = n // 2
    white = torch.ones(n - half, *dataset.test.shape[1:])
    return torch.cat([zeros[torch.arange(half) % len(zeros)], white])


def _copies(dataset, n: int) -> torch.Tensor:
    return dataset.as_float(dataset.train[torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(0))[:n]])


@pytest.fixture(scope="module")
def scored() -> dict[str, tuple[dict, dict, dict]]:
    """Per dataset and comparison: (metrics of held-out real data, of the degraded sample, of a copycat),
    each under one protocol with every metric of the kind."""
    out = {}
    for name, degrade in (("ring8", _degraded_ring8), ("digits", _degraded_digits)):
        dataset = load_dataset(name)
        everything = list(metric_names(dataset.info.kind))
        protocol = default_protocol(dataset, metrics=everything)
        extractor = ProtocolExtractor(dataset, protocol)
        real = score_reference(dataset, protocol, extractor)["metrics"]
        bad = score(degrade(dataset, protocol.n_fake), dataset, protocol, extractor)["metrics"]
        copy = score(_copies(dataset, protocol.n_fake), dataset, protocol, extractor)["metrics"]
        out[name] = (real, bad, copy)
        half = len(dataset.test) // 2
        p_half = default_protocol(dataset, n=half, metrics=everything)
        held = dataset.test_float()[half:]
        out[f"{name}, half the test split held out"] = tuple(
            score(x, dataset, p_half, extractor, heldout=held)["metrics"]
            for x in (dataset.test_float()[:half], degrade(dataset, half), _copies(dataset, half)))
    return out


@pytest.mark.parametrize("name", list(METRICS))
def test_real_data_beats_a_degraded_sample_in_the_declared_direction(scored, name):
    if name in EXEMPT:
        pytest.skip(EXEMPT[name])
    reported = {ds: pair for ds, pair in scored.items() if name in pair[0]}
    assert reported, f"metric {name!r} is reported on neither ring8 nor digits; add a dataset where it is"
    higher_is_better = metric_info(name).higher_is_better
    for ds, (real, degraded, copy) in reported.items():
        bad = copy if name in COPYING else degraded
        better, worse = (real[name], bad[name]) if higher_is_better else (bad[name], real[name])
        assert better > worse, f"{name} on {ds}: real data {real[name]}, degraded sample {bad[name]}"
