"""Every registered model on every compatible embedded dataset: construction, one step, finite losses,
sample shape and range. Parametrized over the registry, so a new model is tested when registered."""

import pytest
import torch

from ganbench.data import load_dataset
from ganbench.models import MODELS, build_model

DATASETS = ["ring8", "digits", "stacked-digits"]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", MODELS.names())
def test_model_trains_and_samples(name, dataset):
    torch.manual_seed(0)
    data = load_dataset(dataset)
    model = build_model(name, data.info)
    batch = data.as_float(data.train[: 16 * model.batches_per_step])
    for _ in range(2):
        losses = model.train_step(batch)
    assert losses and all(isinstance(v, float) and torch.isfinite(torch.tensor(v)) for v in losses.values())
    x = model.sample(10, generator=torch.Generator().manual_seed(0))
    assert x.shape == (10, *data.info.shape) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    if data.info.kind == "image":
        assert x.min() >= -1 and x.max() <= 1
    # sampling with a seeded generator is repeatable and leaves the global RNG alone
    state = torch.get_rng_state()
    y = model.sample(10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, y) and torch.equal(state, torch.get_rng_state())


def test_unknown_parameter_is_named():
    from ganbench.errors import UserError

    with pytest.raises(UserError, match="model 'gan' has no parameter 'lr'"):
        build_model("gan", load_dataset("ring8").info, lr=1.0)


def test_pacgan_discriminator_sees_packed_inputs():
    info = load_dataset("ring8").info
    m = build_model("pacgan", info, pack=3)
    assert m.batches_per_step == 3
    first = m.D[0].linear
    assert first.in_features == 2 * 3


def test_image_architectures_follow_the_layer_plans():
    from ganbench.data.base import DatasetInfo

    for shape in [(1, 28, 28), (3, 32, 32), (1, 8, 8)]:
        info = DatasetInfo("x", "image", shape, 10, "test")
        m = build_model("gan", info)
        z = torch.randn(4, m.z_dim)
        assert m.G(z).shape == (4, *shape)
        assert m.D(m.G(z)).shape == (4, 1)



def test_latents_follow_the_device_asked_for():
    m = build_model("gan", load_dataset("ring8").info)
    assert m.latent(3).device == m.device == torch.device("cpu")
    assert m.latent(3, device=torch.device("meta")).device.type == "meta"
    g = torch.Generator().manual_seed(0)  # a CPU generator draws on the CPU, then moves
    assert m.latent(3, g, device=torch.device("meta")).device.type == "meta"


@pytest.mark.parametrize("dataset", ["ring8", "digits"])
def test_vae_negative_elbo_follows_the_definition(dataset):
    # Independent reference: torch.distributions' Gaussian log-density and Gaussian-to-standard-normal KL.
    from torch.distributions import Normal, kl_divergence

    torch.manual_seed(0)
    data = load_dataset(dataset)
    model = build_model("vae", data.info, decoder_sd=0.3).eval()
    x = data.as_float(data.train[:20])
    terms = model.negative_elbo(x, torch.Generator().manual_seed(5))
    mu, logvar = model.enc(x).chunk(2, dim=1)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        recon = model.dec(mu + eps * (0.5 * logvar).exp())
        nll = -Normal(recon, 0.3).log_prob(x).flatten(1).sum(1)
        kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(terms["nll"], nll, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(terms["kl"], kl, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms["neg_elbo"], nll + kl, rtol=1e-5, atol=1e-4)
    assert float(model.log_sd.exp()) == pytest.approx(0.3)


def test_a_constructor_check_is_a_user_error_naming_model_and_dataset():
    from ganbench.errors import UserError

    with pytest.raises(UserError, match="model 'vae' on ring8: decoder_sd=0: .* must be positive"):
        build_model("vae", load_dataset("ring8").info, decoder_sd=0)
    with pytest.raises(UserError, match="model 'gan' on ring8: arch='carpedm20'"):
        build_model("gan", load_dataset("ring8").info, arch="carpedm20")
