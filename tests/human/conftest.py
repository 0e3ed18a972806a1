"""Really trained (briefly) runs on digits and ring8, a study prepared from them, and a study server."""

import dataclasses
import shutil
import threading

import pytest

from ganbench.config import find_baseline
from ganbench.human.server import StudyServer
from ganbench.human.study import prepare_study
from ganbench.runs.layout import StudyDir
from ganbench.training import train

STEPS = 20


def make_runs(out, runs=(("gan", "digits"), ("vae", "digits"))):
    for model, dataset in runs:
        cfg = find_baseline(model, dataset)
        budget = {"steps": STEPS, "eval_every": 1000, "checkpoint_every": 1000, "log_every": 10}
        train(dataclasses.replace(cfg, train=cfg.train.replace(**budget)), 0, out, device="cpu", progress=False)
    return out


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """gan and vae on digits, 20 steps each, seed 0."""
    return make_runs(tmp_path_factory.mktemp("human-runs"))


@pytest.fixture(scope="session")
def prepared(runs):
    """A study of 3 images per model, 3 real ones and 2 attention checks (11 items)."""
    return prepare_study(runs, "digits", n_per_model=3, n_checks=2, max_failed_checks=0, device="cpu")


@pytest.fixture
def study(prepared, tmp_path):
    """A fresh copy of the prepared study (its own judgments), in a runs folder of its own."""
    dest = StudyDir.of(tmp_path, "digits")
    shutil.copytree(prepared.path, dest.path)
    return dest


@pytest.fixture
def server(study):
    srv = StudyServer(study, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
