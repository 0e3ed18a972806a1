"""The trained classifier evaluator: accuracy, caching, RNG isolation, stacked datasets and the shipped weights.

One digits classifier is trained per module (a few seconds on 2 idle CPU cores, ``shipped=False``: as for a
set without shipped weights) and shared.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ganbench.caches import clear_caches
from ganbench.data import list_datasets, load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors import ClassifierNet, get_classifier
from ganbench.evaluation.extractors import classifier as clf
from scripts.make_evaluators import main as make_evaluators


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train the digits classifier once, recording the RNG state around it and the time taken."""
    clear_caches()
    cache_dir = tmp_path_factory.mktemp("evaluators")
    digits = load_dataset("digits")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    start = time.perf_counter()
    ev = get_classifier(digits, cache_dir=cache_dir, shipped=False)
    seconds = time.perf_counter() - start
    rng_unchanged = torch.equal(before, torch.get_rng_state())
    yield SimpleNamespace(ev=ev, digits=digits, cache_dir=cache_dir, seconds=seconds, rng_unchanged=rng_unchanged)
    clear_caches()


def test_held_out_accuracy_recorded_and_recomputed(trained):
    ev, digits = trained.ev, trained.digits
    assert ev.test_accuracy >= 0.97
    assert ev.info()["test_accuracy"] == ev.test_accuracy
    recomputed = float((ev.predict(digits.test_float()) == digits.test_labels.numpy()).mean())
    assert recomputed >= 0.97
    assert recomputed == pytest.approx(ev.test_accuracy, abs=1e-12)
    print(f"digits classifier: held-out accuracy {recomputed:.4f}, trained in {trained.seconds:.1f} s")


def test_outputs_shapes_and_determinism(trained):
    ev, x = trained.ev, trained.digits.test_float()[:100]
    feats, probs = ev.features_and_probs(x, batch_size=32)
    assert feats.shape == (100, 128) and feats.dtype == np.float64
    assert probs.shape == (100, 10) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(ev.features(x, batch_size=32), feats)
    np.testing.assert_array_equal(ev.probs(x, batch_size=32), probs)
    np.testing.assert_array_equal(ev.predict(x), probs.argmax(axis=1))
    assert ev.num_classes == 10 and ev.feature_dim == 128


def test_training_leaves_global_rng_untouched(trained):
    assert trained.rng_unchanged


def test_info_names_weights_and_recipe(trained):
    ev = trained.ev
    info = ev.info()
    assert info["name"] == "classifier-digits"
    saved = torch.load(ev.cache_file, weights_only=True)
    assert info["weights_sha256"] == clf.state_dict_sha256(saved["state_dict"])
    assert info["weights_sha256"] == clf.state_dict_sha256(ev.net.state_dict())
    assert info["preprocessing"]["input"] == "float32 NCHW in [-1, 1]"
    assert info["recipe"]["epochs"] == 30 and info["recipe"]["plan"] == "small"
    assert ev.cache_file.parent == trained.cache_dir.resolve()
    assert ev.cache_file.name.startswith("digits-") and ev.cache_file.suffix == ".pt"


def test_second_call_loads_from_disk_without_training(trained, monkeypatch):
    ev, path = trained.ev, trained.ev.cache_file
    mtime = path.stat().st_mtime_ns
    clear_caches()  # force the disk path, not the in-process memo

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although the cache file is valid")

    monkeypatch.setattr(clf, "train_classifier", no_training)
    again = get_classifier(trained.digits, cache_dir=trained.cache_dir, shipped=False)
    assert again is not ev
    assert again.weights_sha256 == ev.weights_sha256
    assert again.test_accuracy == ev.test_accuracy
    assert path.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.features(trained.digits.test_float()), ev.features(trained.digits.test_float()))
    assert get_classifier(trained.digits, cache_dir=trained.cache_dir, shipped=False) is again  # in-process memo


def test_cache_key_changes_with_data_and_recipe(trained):
    digits = trained.digits
    recipe = trained.ev.recipe
    key = clf.cache_key(recipe, digits)
    assert trained.ev.cache_file.name == f"digits-{key[:16]}.pt"
    assert clf.cache_key(dict(recipe), digits) == key  # stable

    train = digits.train.clone()
    train[0, 0, 0, 0] += 1  # one grey level
    assert clf.cache_key(recipe, dataclasses.replace(digits, train=train)) != key
    labels = digits.test_labels.clone()
    labels[0] = (labels[0] + 1) % 10
    assert clf.cache_key(recipe, dataclasses.replace(digits, test_labels=labels)) != key
    assert clf.cache_key({**recipe, "epochs": recipe["epochs"] + 1}, digits) != key


def test_corrupt_cache_file_is_retrained_over(trained, tmp_path, monkeypatch):
    target = tmp_path / trained.ev.cache_file.name
    target.write_bytes(b"not a torch checkpoint")
    calls = []

    def fake_train(dataset, recipe, device):  # a real retraining is covered by the fixture and the test below
        calls.append(recipe)
        return clf.build_classifier(recipe), 0.25

    monkeypatch.setattr(clf, "train_classifier", fake_train)
    clear_caches()
    with pytest.warns(RuntimeWarning, match="unreadable .*; not used, trained again$"):
        ev = get_classifier(trained.digits, cache_dir=tmp_path, shipped=False)
    assert len(calls) == 1 and ev.cache_file == target.resolve() and ev.test_accuracy == 0.25
    saved = torch.load(target, weights_only=True)  # the corrupt file was replaced by a readable one
    assert saved["meta"]["test_accuracy"] == 0.25
    assert clf.state_dict_sha256(saved["state_dict"]) == ev.weights_sha256


def test_training_is_reproducible(trained):
    # Same recipe and data -> bit-identical weights, so a retrained cache file keeps its weights_sha256.
    digits = trained.digits
    small = dataclasses.replace(digits, train=digits.train[:200], train_labels=digits.train_labels[:200])
    recipe = {**trained.ev.recipe, "epochs": 3}
    first, acc1 = clf.train_classifier(small, recipe, torch.device("cpu"))
    second, acc2 = clf.train_classifier(small, recipe, torch.device("cpu"))
    assert acc1 == acc2
    assert clf.state_dict_sha256(first.state_dict()) == clf.state_dict_sha256(second.state_dict())


def test_cache_file_from_another_key_is_retrained_over(trained, tmp_path, monkeypatch):
    # A valid file under the wrong name (e.g. copied by hand) must not be trusted.
    other = dataclasses.replace(trained.digits, train=trained.digits.train.flip(-1))
    key = clf.cache_key(trained.ev.recipe, other)
    shutil.copy(trained.ev.cache_file, tmp_path / f"digits-{key[:16]}.pt")
    calls = []
    monkeypatch.setattr(clf, "train_classifier", lambda *a: calls.append(1) or (ClassifierNet(1, 10), 0.5))
    clear_caches()
    with pytest.warns(RuntimeWarning, match="unreadable"):
        get_classifier(other, cache_dir=tmp_path)
    assert calls == [1]


def test_stacked_digits_uses_base_classifier_per_channel(trained, monkeypatch):
    monkeypatch.setattr(clf, "train_classifier", lambda *a: pytest.fail("stacked set retrained the base classifier"))
    stacked = load_dataset("stacked-digits")
    ev = get_classifier(stacked, cache_dir=trained.cache_dir, shipped=False)
    base = trained.ev
    assert ev.cache_file == base.cache_file and ev.weights_sha256 == base.weights_sha256
    assert ev.num_classes == 1000 and ev.feature_dim == 3 * base.feature_dim

    labels = stacked.test_labels.numpy()
    pred = ev.predict(stacked.test_float())
    accuracy = float((pred == labels).mean())
    assert accuracy >= 0.9
    assert ev.info()["stacked_test_accuracy"] == pytest.approx(accuracy)
    assert ev.info()["test_accuracy"] == base.test_accuracy
    print(f"stacked-digits: triple accuracy {accuracy:.4f} (base accuracy^3 = {base.test_accuracy ** 3:.4f})")

    x = stacked.test_float()[:64]
    feats, probs = ev.features_and_probs(x)
    assert feats.shape == (64, 384) and probs.shape == (64, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    channel_feats = [base.features(x[:, c : c + 1]) for c in range(3)]
    np.testing.assert_allclose(feats, np.concatenate(channel_feats, axis=1), rtol=1e-6, atol=1e-6)
    pa, pb, pc = (base.probs(x[:, c : c + 1]) for c in range(3))
    expected = np.einsum("na,nb,nc->nabc", pa, pb, pc).reshape(64, 1000)  # index 100a + 10b + c
    np.testing.assert_allclose(probs, expected, rtol=1e-6, atol=1e-12)
    triples = sum(base.predict(x[:, c : c + 1]) * 10 ** (2 - c) for c in range(3))
    np.testing.assert_array_equal(ev.predict(x), triples)
    np.testing.assert_array_equal(ev.predict(x), probs.argmax(axis=1))


def test_points_and_unlabelled_datasets_are_refused():
    with pytest.raises(UserError, match="2D point"):
        get_classifier(load_dataset("ring8"))
    unlabelled = dataclasses.replace(load_dataset("digits"), train_labels=None, test_labels=None)
    with pytest.raises(UserError, match=r"for unlabelled data; use --extractor clip-vit-b32, .* or inception$"):
        get_classifier(unlabelled)


def test_bad_inputs_are_user_errors(trained):
    ev = trained.ev
    with pytest.raises(UserError, match="channels"):
        ev.features(torch.zeros(2, 3, 8, 8))
    with pytest.raises(UserError, match="NaN"):
        ev.probs(torch.full((2, 1, 8, 8), float("nan")))
    with pytest.raises(UserError, match="floating"):
        ev.predict(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(UserError, match="batch_size"):
        ev.features(trained.digits.test_float(), batch_size=0)
    feats, probs = ev.features_and_probs(torch.zeros(0, 1, 8, 8))
    assert feats.shape == (0, 128) and probs.shape == (0, 10)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_larger_images_use_the_two_pooling_plan(shape):
    recipe = clf.classifier_recipe(shape, 10, 60_000)
    assert recipe["plan"] == "medium" and recipe["epochs"] == 3
    # about 40,000 examples seen, from 3 epochs up to 30
    assert [clf.classifier_recipe(shape, 10, n)["epochs"] for n in (50_000, 10_000, 2_000, 64)] == [3, 4, 20, 30]
    net = clf.build_classifier(recipe).eval()
    feats, logits = net.features_and_logits(torch.zeros(2, *shape))
    assert feats.shape == (2, 128) and logits.shape == (2, 10)


# --- the shipped weights -----------------------------------------------------------------------------------


def _shipped_file(name: str):
    base = load_dataset(name)
    recipe = clf.classifier_recipe(tuple(base.train.shape[1:]), 10, len(base.train))
    return clf.SHIPPED_DIR / f"{name}-{clf.cache_key(recipe, base)[:16]}.pt"


def test_every_embedded_labelled_set_ships_the_classifier_of_its_present_recipe_and_data():
    # A change of the recipe or the data changes the key: this fails until scripts/make_evaluators.py has run.
    embedded = [i.name for i in list_datasets() if i.source == "embedded" and i.kind == "image"]
    bases = {load_dataset(n).extra.get("base") or n for n in embedded}
    assert bases == set(clf.SHIPPED_SETS) == {"digits"}
    expected = {_shipped_file(n) for n in clf.SHIPPED_SETS}
    assert set(clf.SHIPPED_DIR.glob("*.pt")) == expected  # and no file of an older key


def test_the_shipped_classifier_is_used_without_training_or_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(clf, "train_classifier", lambda *a: pytest.fail("trained although weights ship"))
    clear_caches()
    digits = load_dataset("digits")
    ev = get_classifier(digits, cache_dir=tmp_path)
    assert ev.cache_file == _shipped_file("digits") and list(tmp_path.iterdir()) == []
    saved = torch.load(ev.cache_file, weights_only=True)
    assert ev.weights_sha256 == clf.state_dict_sha256(saved["state_dict"]) == ev.info()["weights_sha256"]
    # The accuracy the file records is what its weights do on this machine's kernels.
    recomputed = float((ev.predict(digits.test_float()) == digits.test_labels.numpy()).mean())
    assert recomputed == pytest.approx(ev.test_accuracy, abs=1e-12) and recomputed >= 0.97
    stacked = get_classifier(load_dataset("stacked-digits"), cache_dir=tmp_path)
    assert stacked.weights_sha256 == ev.weights_sha256 and stacked.stacked_test_accuracy >= 0.9
    clear_caches()


def test_an_unreadable_shipped_file_falls_back_to_the_cache(trained, tmp_path, monkeypatch):
    broken = tmp_path / "classifiers"
    broken.mkdir()
    (broken / trained.ev.cache_file.name).write_bytes(b"not a torch checkpoint")
    monkeypatch.setattr(clf, "SHIPPED_DIR", broken)
    monkeypatch.setattr(clf, "train_classifier", lambda *a: pytest.fail("retrained although the cache holds it"))
    clear_caches()
    with pytest.warns(RuntimeWarning, match=r"unreadable .*; not used, trying .*digits-[0-9a-f]{16}\.pt$"):
        ev = get_classifier(trained.digits, cache_dir=trained.cache_dir)
    assert ev.cache_file == trained.ev.cache_file and ev.weights_sha256 == trained.ev.weights_sha256
    clear_caches()


def test_make_evaluators_writes_the_recipes_weights_and_removes_older_keys(trained, tmp_path, capsys):
    (tmp_path / "digits-0123456789abcdef.pt").write_bytes(b"an older key's file")
    # The fixture's cache holds this machine's training of the recipe (retraining it is tested above).
    assert make_evaluators(["--dest", str(tmp_path), "--cache", str(trained.cache_dir)]) == 0
    written = list(tmp_path.iterdir())
    assert [f.name for f in written] == [trained.ev.cache_file.name]
    weights = clf.state_dict_sha256(torch.load(written[0], weights_only=True)["state_dict"])
    assert weights == trained.ev.weights_sha256
    shipped = torch.load(_shipped_file("digits"), weights_only=True)
    if shipped["meta"].get("cpu_capability") == torch.backends.cpu.get_cpu_capability():
        assert clf.state_dict_sha256(shipped["state_dict"]) == weights  # the shipped file is the recipe's output
    else:  # other kernels train other weights (why they ship), of about the same accuracy
        assert abs(shipped["meta"]["test_accuracy"] - trained.ev.test_accuracy) <= 0.02
    assert "held-out accuracy" in capsys.readouterr().out
    # --check compares a (here: the fixture's) training with the file in --dest and changes nothing
    assert make_evaluators(["--check", "--dest", str(tmp_path), "--cache", str(trained.cache_dir)]) == 0
    assert capsys.readouterr().out.strip().endswith("the same weights") and list(tmp_path.iterdir()) == written
    written[0].unlink()
    assert make_evaluators(["--check", "--dest", str(tmp_path), "--cache", str(trained.cache_dir)]) == 1
    assert "no shipped file" in capsys.readouterr().err
