"""Each metric's declared direction (``higher_is_better``, which the leaderboard ranks by) checked against
what the metric does: held-out real data must score better than a sample that is both collapsed and
partly garbage. Parametrized over the metric registry, so a new metric is checked when registered."""

import pytest
import torch

from ganbench.data import load_dataset
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol
from ganbench.evaluation.scoring import score, score_reference
from ganbench.metrics import METRICS, metric_info


def _degraded_ring8(dataset, n: int) -> torch.Tensor:
    """Half the samples are real points of one mode only (collapse), half sit far off the ring (garbage)."""
    centers = torch.as_tensor(dataset.centers, dtype=torch.float32)
    nearest = torch.cdist(dataset.test, centers).argmin(dim=1)
    one_mode = dataset.test[nearest == 0]
    half = n // 2
    return torch.cat([one_mode[torch.arange(half) % len(one_mode)], torch.full((n - half, 2), 5.0)])


def _degraded_digits(dataset, n: int) -> torch.Tensor:
    """Half the samples are real zeros only (collapse), half are all-white images (garbage)."""
    zeros = dataset.test[dataset.test_labels == 0]
    half = n // 2
    white = torch.ones(n - half, *dataset.test.shape[1:])
    return torch.cat([zeros[torch.arange(half) % len(zeros)], white])


@pytest.fixture(scope="module")
def scored() -> dict[str, tuple[dict, dict]]:
    """Per dataset: (metrics of held-out real data, metrics of the degraded sample), same protocol."""
    out = {}
    for name, degrade in (("ring8", _degraded_ring8), ("digits", _degraded_digits)):
        dataset = load_dataset(name)
        protocol = default_protocol(dataset)
        extractor = ProtocolExtractor(dataset, protocol)
        real = score_reference(dataset, protocol, extractor)["metrics"]
        bad = score(degrade(dataset, protocol.n_fake), dataset, protocol, extractor)["metrics"]
        out[name] = (real, bad)
    return out


@pytest.mark.parametrize("name", list(METRICS))
def test_real_data_beats_a_collapsed_and_partly_garbage_sample_in_the_declared_direction(scored, name):
    reported = {ds: pair for ds, pair in scored.items() if name in pair[0]}
    assert reported, f"metric {name!r} is reported on neither ring8 nor digits; add a dataset where it is"
    higher_is_better = metric_info(name).higher_is_better
    for ds, (real, bad) in reported.items():
        better, worse = (real[name], bad[name]) if higher_is_better else (bad[name], real[name])
        assert better > worse, f"{name} on {ds}: real data {real[name]}, degraded sample {bad[name]}"
