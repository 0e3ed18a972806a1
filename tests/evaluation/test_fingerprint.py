"""Fingerprints identify the protocol, not the machine: the same run scored with the evaluator files in two
cache folders gets the same id, no path enters it, and the dataset's definition does."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench.caches import clear_caches
from ganbench.cli import main
from ganbench.data import load_dataset
from ganbench.evaluation.evaluate import evaluate_run
from ganbench.evaluation.extractors.classifier import SHIPPED_DIR
from ganbench.evaluation.extractors.inception import write_random_weights
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol, fingerprint
from ganbench.evaluation.scoring import score


def _strings(value):
    """Every string (keys included) anywhere in a nested structure."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _assert_no_paths(fp: dict, *folders) -> None:
    text = json.dumps(fp, default=str)
    assert not [s for s in _strings(fp) if s.startswith("/")], fp
    for folder in folders:
        assert str(folder) not in text and str(folder.resolve()) not in text


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny trained ring8 run and a tiny digits run (30 steps each: the scores don't matter, their ids do)."""
    out = tmp_path_factory.mktemp("runs")
    for dataset in ("ring8", "digits"):
        args = ["train", "gan", "--dataset", dataset, "--steps", "30", "--no-eval", "--out", str(out)]
        assert main(args) == 0
    return out


@pytest.mark.parametrize("dataset", ["ring8", "digits"])
def test_same_run_in_two_cache_folders_gets_the_same_id(runs, dataset, tmp_path, monkeypatch):
    run = runs / dataset / "gan" / "seed-0"
    results = {}
    for cache in ("cache-a", "cache-b"):  # two empty cache folders, as on two fresh machines
        folder = tmp_path / cache
        monkeypatch.setenv("GANBENCH_CACHE", str(folder))
        clear_caches()
        results[cache] = evaluate_run(run, n=100)
    clear_caches()
    a, b = results["cache-a"], results["cache-b"]
    assert a["fingerprint"]["id"] == b["fingerprint"]["id"]
    assert a["fingerprint"] == b["fingerprint"] and a["metrics"] == b["metrics"]  # the same weights, too
    _assert_no_paths(a["fingerprint"], tmp_path / "cache-a", tmp_path / "cache-b")
    ds = a["fingerprint"]["dataset"]
    assert ds["name"] == dataset and ds["n_test"] == len(load_dataset(dataset).test) and len(ds["sha256"]) == 64
    if dataset == "digits":  # the file used is still recorded, beside the fingerprint: the shipped weights
        for cache, res in results.items():
            assert Path(res["extractor_files"]["cache_file"]).parent == SHIPPED_DIR
            assert not (tmp_path / cache / "evaluators").exists()  # nothing trained on either "machine"
        assert a["fingerprint"]["extractor"]["recipe"] and a["fingerprint"]["extractor"]["test_accuracy"] > 0.5
    else:
        assert a["extractor_files"] == {}


def test_dataset_definition_and_split_change_the_id():
    ring = load_dataset("ring8")
    p = default_protocol(ring)
    base = fingerprint(p, None, ring)
    assert fingerprint(p, None, ring)["id"] == base["id"]  # deterministic (and memoised per dataset)
    # The same dataset name with another sd (points and sd change), or another split: other ids.
    wider = dataclasses.replace(ring, train=ring.train * 2, test=ring.test * 2, sd=0.02)
    shorter = dataclasses.replace(ring, test=ring.test[:-1], test_labels=ring.test_labels[:-1])
    moved = dataclasses.replace(ring, centers=ring.centers * 1.5)
    ids = {fingerprint(p, None, d)["id"] for d in (ring, wider, shorter, moved)}
    assert len(ids) == 4
    assert fingerprint(p, None, shorter)["dataset"]["n_test"] == len(ring.test) - 1


def test_inception_fingerprint_is_the_same_for_weights_in_two_paths(tmp_path):
    digits = load_dataset("digits")
    # A few samples only: Inception on CPU is slow, and the id is what is checked.
    p = dataclasses.replace(default_protocol(digits, "inception", n=10, metrics=["fd"]), n_real=10)
    fake = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    written = write_random_weights(tmp_path / "a" / "inception.pth")
    (tmp_path / "b").mkdir()
    shutil.copyfile(written, tmp_path / "b" / "inception.pth")  # the same file on a second machine
    results = []
    for folder in ("a", "b"):
        weights = tmp_path / folder / "inception.pth"
        results.append(score(fake, digits, p, ProtocolExtractor(digits, p, "cpu", extractor_weights=str(weights))))
    a, b = results
    assert a["fingerprint"]["id"] == b["fingerprint"]["id"] and np.isfinite(a["metrics"]["fd"])
    _assert_no_paths(a["fingerprint"], tmp_path)
    assert a["extractor_files"]["weights_path"] == str((tmp_path / "a" / "inception.pth").resolve())
    assert a["fingerprint"]["extractor"]["weights_sha256"] == b["fingerprint"]["extractor"]["weights_sha256"]
