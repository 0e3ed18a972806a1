"""Preparing a study from real runs: the items are the final models' samples, held-out real images and
noise checks, shown as crisp upscaled PNGs; the fingerprint; the command line's refusals and --score."""

import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.cli import main
from ganbench.data import load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.evaluate import load_run_model
from ganbench.human.judgments import JudgmentLog
from ganbench.human.order import next_item, rater_order
from ganbench.human.scoring import wilson_interval
from ganbench.human.study import item_png, prepare_study, to_uint8, upscale_factor
from ganbench.runs.layout import RunDir, StudyDir

from .conftest import make_runs


def _pixels(path):
    return np.asarray(Image.open(path))  # Pillow decodes the PNG, not ganbench


def _expected(x: torch.Tensor) -> np.ndarray:
    return np.clip(np.rint((x[0].numpy() + 1) * 127.5), 0, 255).astype(np.uint8)  # [-1, 1] -> [0, 255]


def test_items_are_the_models_samples_held_out_images_and_noise(prepared, runs):
    study = prepared.read_study()
    kinds = [(it["kind"], it["model"]) for it in study["items"]]
    assert kinds == [("generated", "gan")] * 3 + [("generated", "vae")] * 3 + [("real", None)] * 3 + [("check", None)] * 2
    assert len({it["id"] for it in study["items"]}) == 11
    test = load_dataset("digits").test_float()
    gen = {}
    for m in ("gan", "vae"):
        model, _ = load_run_model(RunDir.of(runs, "digits", m, 0).path)
        gen[m] = model.sample(3, generator=torch.Generator().manual_seed(0)).detach()  # eval seed 0
    for it in study["items"]:
        px = _pixels(prepared.image(it["id"]))
        assert px.shape == (320, 320) and px.dtype == np.uint8  # 8x8 shown 40 times larger
        small = px[::40, ::40]
        assert (np.repeat(np.repeat(small, 40, 0), 40, 1) == px).all()  # square blocks: nearest neighbour
        if it["kind"] == "real":
            assert (small == _expected(test[it["index"]])).all()
        elif it["kind"] == "generated":
            assert (np.abs(small.astype(int) - _expected(gen[it["model"]][it["index"]]).astype(int)) <= 1).all()
        else:
            assert small.std() > 50  # uniform noise over 0..255 (sd about 74)
    reals = [it["index"] for it in study["items"] if it["kind"] == "real"]
    assert len(set(reals)) == 3 and all(0 <= i < len(test) for i in reals)


def test_fingerprint_is_the_same_for_the_same_settings_and_changes_with_them(prepared, runs, tmp_path):
    fp = prepared.read_study()["fingerprint"]
    assert fp["rules"]["n_per_model"] == 3 and fp["rules"]["n_checks"] == 2 and fp["rules"]["order_seed"] == 0
    assert "unlimited time" in fp["rules"]["exposure"] and fp["rules"]["upscale"] == 40 and fp["rules"]["display_px"] == 320
    other = tmp_path / "copy"
    shutil.copytree(runs / "digits", other / "digits")
    again = prepare_study(other, "digits", n_per_model=3, n_checks=2, max_failed_checks=0, device="cpu").read_study()
    assert again["fingerprint"] == fp
    assert {it["id"] for it in again["items"]}.isdisjoint({it["id"] for it in prepared.read_study()["items"]})
    shutil.rmtree(StudyDir.of(other, "digits").path)
    seeded = prepare_study(other, "digits", n_per_model=3, n_checks=2, max_failed_checks=0, order_seed=1)
    assert seeded.read_study()["fingerprint"]["id"] != fp["id"]


def test_an_existing_study_is_continued_and_never_silently_changed(prepared, runs):
    assert prepare_study(runs, "digits").path == prepared.path  # no option: continue it
    assert prepare_study(runs, "digits", n_per_model=3).path == prepared.path
    with pytest.raises(UserError, match="n_per_model=3 is already in"):
        prepare_study(runs, "digits", n_per_model=5)


def test_orders_differ_between_raters_and_cover_every_item(prepared):
    study = prepared.read_study()
    a, b = rater_order(study, "a"), rater_order(study, "b")
    assert sorted(a) == sorted(b) == sorted(it["id"] for it in study["items"]) and a != b
    assert rater_order(study, "a") == a and next_item(a, a[:3]) == a[3] and next_item(a, a) is None


def test_cli_refuses_2d_sets_unknown_models_and_missing_studies(tmp_path, capsys):
    runs = make_runs(tmp_path / "runs", [("gan", "ring8")])
    for argv in (["human-eval", str(runs)], ["human-eval", str(runs), "--dataset", "ring8"],
                 ["human-eval", str(runs), "--score"], ["human-eval", str(tmp_path / "none")]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("ganbench: error: ") and err.count("\n") == 1, err
    assert "2D point set" in _err(main, ["human-eval", str(runs), "--dataset", "ring8"], capsys)


def _err(fn, argv, capsys):
    assert fn(argv) == 2
    return capsys.readouterr().err


def test_cli_refuses_an_unknown_model(runs, capsys, tmp_path):
    other = tmp_path / "copy"
    shutil.copytree(runs / "digits", other / "digits")
    assert "did you mean 'gan'" in _err(main, ["human-eval", str(other), "--models", "gann"], capsys)


def _answer(log, study, rater, item, answer):
    order = rater_order(study, rater)
    stored, _ = log.append_next(rater, item, answer, 100, lambda done: next_item(order, done))
    assert stored


def test_cli_score_counts_judgments_of_a_study(study, capsys):
    data = study.read_study()
    kind = {it["id"]: it for it in data["items"]}
    log = JudgmentLog(study.judgments)
    for rater in ("u1", "u2"):  # everything real: checks failed, so both are excluded with max 0
        for item in rater_order(data, rater)[:6]:
            _answer(log, data, rater, item, "real")
    for item in rater_order(data, "u3"):  # u3 calls generated and checks fake, real images real
        answer = "real" if kind[item]["kind"] == "real" else "fake"
        _answer(log, data, "u3", item, answer)
    runs = study.path.parent.parent
    assert main(["human-eval", str(runs), "--score", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    failed = {r for r in ("u1", "u2") if any(kind[i]["kind"] == "check" for i in rater_order(data, r)[:6])}
    assert res["raters_excluded"] == sorted(failed)
    kept = [i for r in sorted({"u1", "u2"} - failed) for i in rater_order(data, r)[:6]]  # all answered real
    real_n = 3 + sum(kind[i]["kind"] == "real" for i in kept)
    gan_k = sum(kind[i]["model"] == "gan" for i in kept)  # u3 called every generated image fake
    assert (res["models"]["gan"]["judged_real"], res["models"]["gan"]["judgments"]) == (gan_k, gan_k + 3)
    assert res["real"]["judged_real"] == real_n and res["raters"] == 3 - len(failed)
    assert res["real"]["judgments"] == real_n and res["models"]["gan"]["ci95_high"] == pytest.approx(
        wilson_interval(res["models"]["gan"]["judged_real"], res["models"]["gan"]["judgments"])[1])  # fmt: skip
    assert json.loads(study.scores.read_text())["judgments"] == res["judgments"]
    assert main(["human-eval", str(runs), "--score"]) == 0
    assert "judged real" in capsys.readouterr().out


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 8, 8)])
def test_pngs_of_28x28_and_colour_images_are_integer_upscaled_and_exact(shape):
    x = torch.rand((2, *shape), generator=torch.Generator().manual_seed(1)) * 2 - 1  # data space [-1, 1]
    img = to_uint8(x)
    png = item_png(img[1])
    f = upscale_factor(*shape[1:])
    assert f * shape[1] >= 320 and (f - 1) * shape[1] < 320
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    want = np.clip(np.rint((x[1].numpy() + 1) * 127.5), 0, 255).astype(np.uint8)
    want = want[0] if shape[0] == 1 else want.transpose(1, 2, 0)
    assert decoded.shape[:2] == (f * shape[1], f * shape[2])
    assert (decoded == np.repeat(np.repeat(want, f, 0), f, 1)).all()
