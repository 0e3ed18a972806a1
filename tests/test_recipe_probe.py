"""scripts/recipe_probe.py: variants of a committed baseline, and the report of their curves."""

import numpy as np
import pytest

from ganbench.config import find_baseline
from ganbench.errors import UserError
from scripts.recipe_probe import probe_report, variant_config


def test_a_variant_is_the_baseline_with_its_settings_changed_and_its_own_name():
    base = find_baseline("gan", "digits")
    v = variant_config(base, "floor-0.3", ["train.lr_floor=0.3", "model_params.lr_g=2e-4"], 10500)
    assert v.name == "gan-floor-0.3" and v.model == "gan" and v.dataset == "digits"
    assert v.train.lr_floor == 0.3 and v.train.steps == 10500 and v.model_params["lr_g"] == 2e-4
    assert v.train.lr_decay_steps == base.train.lr_decay_steps and v.model_params["lr_d"] == base.model_params["lr_d"]
    const = variant_config(base, "constant", ['train.lr_schedule="constant"'], 10500)
    assert const.train.lr_schedule == "constant"
    assert variant_config(base, "baseline", [], 10500).name == "gan"
    for bad in ("lr_floor=0.3", "train.no_such=1", "loss.lr=1"):
        with pytest.raises(UserError):
            variant_config(base, "x", [bad], 10500)


def test_the_report_reads_each_variants_curve_at_the_budget_at_1_5x_and_at_the_end(tmp_path):
    # FD curves of known shape on digits, budget 100, probe 300 steps: the baseline falls to the end, the
    # variant is flat from 50: at the budget 20 against 5, justified from the variant's flat stretch only
    steps = np.arange(10, 301, 10)
    falling = {s: (steps, 2000.0 / steps + 0.01 * s) for s in (0, 1)}
    flat = {s: (steps, np.where(steps < 50, 50.0, 5.0) + 0.01 * s) for s in (0, 1)}
    out = tmp_path / "probe.md"
    text = probe_report("digits", "gan", 100, {"baseline": falling, "flat": flat},
                        {"flat": [{"fd": 4.0, "ct": 1.0}, {"fd": 6.0, "ct": 3.0}]}, 3.0,
                        {"baseline": "", "flat": "`train.lr_floor=0.3`"}, out)  # fmt: skip
    rows: dict = {}
    for line in text.splitlines():  # the first table's rows (the scores table's come after)
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[0] in ("baseline", "flat"):
            rows.setdefault(cells[0], cells)
    base, flat_row = rows["baseline"], rows["flat"]
    assert base[1] == "as committed" and flat_row[1] == "`train.lr_floor=0.3`"
    assert float(base[3]) > float(base[4]) > float(base[5])  # still falling at 1.5x and at the end
    assert float(flat_row[3]) == pytest.approx(5.005, abs=0.01) == float(flat_row[5])  # 3 significant digits
    assert base[7] == "not within the probe" and 50 <= int(flat_row[7]) <= 100
    assert "| flat | 5 | 2 |" in text  # final scores: the seed means, fd then ct
    assert (tmp_path / "probe" / "curves_digits_gan.png").stat().st_size > 0
    table = (tmp_path / "probe" / "curves.csv").read_text().splitlines()  # every seed's curve, value for value
    assert table[0] == "dataset,model,seed,step,value" and len(table) == 1 + 2 * 2 * len(steps)
    assert "digits,flat,1,40,50.01" in table and f"digits,baseline,0,300,{2000.0 / 300!r}" in table


def test_baseline_runs_of_a_study_are_read_not_trained_again(tmp_path):
    # A probe with only the baseline trains it (ring8's GAN at 0.1x its budget: 420 steps, an evaluation every
    # 150 and at the end); a second probe given those runs as --baseline-runs trains nothing and reports the
    # same row.
    from scripts.recipe_probe import main

    first, second = tmp_path / "first", tmp_path / "second"
    args = ["gan", "ring8", "--extend", "0.1", "--seeds", "0", "--jobs", "1"]
    assert main([*args, "--runs", str(first), "--out", str(tmp_path / "a.md")]) == 0
    assert sorted(p.name for p in (first / "ring8" / "gan").iterdir()) == ["seed-0"]
    assert main([*args, "--runs", str(second), "--baseline-runs", str(first), "--out", str(tmp_path / "b.md")]) == 0
    assert not second.exists()  # nothing trained

    def rows(name):
        return [line.split("|")[3:] for line in (tmp_path / name).read_text().splitlines()
                if line.startswith("| baseline |")]  # fmt: skip

    assert rows("a.md") and rows("a.md") == rows("b.md")  # curves and final scores, read from the first runs
    assert "its runs read from a budget study's (`--baseline-runs`)" in (tmp_path / "b.md").read_text()
