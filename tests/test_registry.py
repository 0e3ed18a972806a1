import pytest

from ganbench.registry import Registry, UnknownNameError


def test_register_and_get():
    r = Registry("model")
    r.register("gan", 1)

    @r.register("vae")
    def vae():
        return 2

    assert r.get("gan") == 1 and r.get("vae") is vae
    assert r.names() == ["gan", "vae"] and "gan" in r and len(r) == 2


def test_duplicate_raises():
    r = Registry("model")
    r.register("gan", 1)
    with pytest.raises(ValueError, match="already registered under the name 'gan'"):
        r.register("gan", 2)


def test_unknown_suggests_closest():
    r = Registry("model")
    for n in ("gan", "wgan-gp", "vae"):
        r.register(n, n)
    with pytest.raises(UnknownNameError, match=r"Unknown model 'gna'\. Did you mean: gan\?"):
        r.get("gna")
    with pytest.raises(KeyError):
        r.get("zzzzzz")
