"""scripts/budget_study.py: only runs of a baseline's present configuration justify its budget."""

import dataclasses
import json
import shutil

from ganbench.config import find_baseline
from ganbench.evaluation.tracking import tracker_for
from ganbench.training import train
from scripts.budget_study import EXTEND, read_curves


def _set(run, edit) -> None:
    path = run / "config.json"
    cfg = json.loads(path.read_text())
    edit(cfg)
    path.write_text(json.dumps(cfg))


def test_runs_of_another_configuration_are_left_out(tmp_path):
    # A real 20-step ring8 VAE run (an evaluation every 5 steps); its config.json then says it was trained
    # for the study's EXTEND x budget (evaluations as the baseline's), as a study run would be. Copies: one of an older code that recorded
    # no precision / channels_last (their defaults: still counted), one at another learning rate and one at
    # the old budget (both left out).
    base = find_baseline("vae", "ring8")
    short = dataclasses.replace(base, train=base.train.replace(steps=20, eval_every=5, checkpoint_every=20))
    train(short, 0, tmp_path, device="cpu", progress=False, tracker=tracker_for(short))
    run0 = tmp_path / "ring8" / "vae" / "seed-0"
    study = dataclasses.asdict(base.train.replace(steps=int(EXTEND * base.train.steps)))
    _set(run0, lambda c: c.update(train=study))
    for seed in (1, 2, 3):
        shutil.copytree(run0, run0.parent / f"seed-{seed}")
    _set(run0.parent / "seed-1", lambda c: [c["train"].pop(k) for k in ("precision", "channels_last")])
    _set(run0.parent / "seed-2", lambda c: c["model_params"].update(lr=c["model_params"]["lr"] * 2))
    _set(run0.parent / "seed-3", lambda c: c["train"].update(steps=base.train.steps))
    stale: list[str] = []
    curves = read_curves(tmp_path, stale)
    assert set(curves) == {("ring8", "vae")}
    assert sorted(curves[("ring8", "vae")]) == [0, 1]
    assert curves[("ring8", "vae")][0][0].tolist() == [5, 10, 15, 20]
    assert stale == ["ring8/vae/seed-2", "ring8/vae/seed-3"]


def test_published_report_is_of_the_present_baselines():
    # reports/budgets.md justifies the budgets of the files in baselines/: each embedded baseline has its row,
    # at its present budget and configuration hash (a changed learning rate or step count leaves the row out
    # of date until the study is rerun).
    from pathlib import Path

    from ganbench.models import list_models
    from ganbench.runs.worker import Job
    from scripts.budget_study import DATASETS

    text = (Path(__file__).resolve().parent.parent / "reports" / "budgets.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 13 and cells[0] in DATASETS:
            rows[(cells[0], cells[1])] = cells
    for dataset in DATASETS:
        for recipe in list_models():
            config = find_baseline(recipe.name, dataset)
            row = rows.get((dataset, recipe.name))
            assert row is not None, f"reports/budgets.md has no row for {dataset} / {recipe.name}"
            assert int(row[3]) == config.train.steps, (dataset, recipe.name, row[3])
            assert row[4] == f"`{Job(config, 0).config_hash}`", (dataset, recipe.name, row[4])
