"""The Vendi score on the authors' published examples (vertaix/Vendi-Score README) and on samplers whose
effective number of distinct samples is known."""

import numpy as np
import pytest
import torch

from ganbench.data import load_dataset
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol
from ganbench.evaluation.scoring import score
from ganbench.metrics import vendi_score, vendi_score_from_kernel


def test_readme_examples():
    samples = np.array([0, 0, 10, 10, 20, 20], dtype=float)
    k = np.exp(-np.abs(samples[:, None] - samples[None, :]))  # k(a, b) = exp(-|a - b|)
    got = vendi_score_from_kernel(k)
    assert np.floor(got * 1e4) / 1e4 == 2.9999 and got == pytest.approx(3.0, abs=1e-4)  # the README truncates
    kernel = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert round(vendi_score_from_kernel(kernel), 4) == 2.1573


def test_cosine_kernel_primal_and_dual_agree_and_known_values():
    rng = np.random.default_rng(0)
    for n, d in ((50, 8), (8, 50)):
        x = rng.standard_normal((n, d))
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        assert vendi_score(x) == pytest.approx(vendi_score_from_kernel(xn @ xn.T), rel=1e-10)
    assert vendi_score(np.tile([[3.0, 4.0]], (100, 1))) == pytest.approx(1.0)  # one sample repeated
    assert vendi_score(np.eye(7) * 5) == pytest.approx(7.0)  # seven orthogonal samples
    assert vendi_score(np.repeat(np.eye(3), [10, 10, 10], axis=0)) == pytest.approx(3.0)  # three equal modes


def test_one_mode_sampler_scores_about_one_and_real_digits_more():
    d = load_dataset("digits")
    p = default_protocol(d, metrics=["vendi"])
    ext = ProtocolExtractor(d, p)
    one = score(d.test_float()[:1].repeat(p.n_fake, 1, 1, 1), d, p, ext)["metrics"]["vendi"]
    zeros = d.test_float()[d.test_labels == 0]
    one_class = score(zeros[torch.arange(p.n_fake) % len(zeros)], d, p, ext)["metrics"]["vendi"]
    real = score(d.test_float()[: p.n_fake], d, p, ext)["metrics"]["vendi"]
    assert one == pytest.approx(1.0, abs=1e-6) and one_class < real and real > 2
