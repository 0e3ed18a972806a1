"""Does ``fd_gap`` on digits measure memorisation, or the digits classifier? Writes reports/fd-gap-features.md.

    python scripts/fd_gap_features.py [--runs runs/quick] [--draws 40] [--runs-label TEXT]

``fd_gap`` (``ganbench.metrics.generalisation``) is the FD of a model's samples to the held-out split minus
their FD to as many training images: about 0 for a model that generalises, positive for one that copies its
training set. On digits the features are those of ganbench's digits classifier, which was trained on the
training split, so training and held-out images need not be exchangeable in them. This script computes
``fd_gap`` with the same function in two feature spaces, the classifier's and the raw pixels (64 grey
levels in [-1, 1], fit to nothing), for

- reference samplers without a model: *fresh images* (one random half of the test split, the other
  half held out: images like the held-out ones that neither the models nor the classifier saw),
  *unseen training images* (training images outside the training chunks fd_gap compares with, which the
  classifier did see), *copies of the first training chunk* (the chunk itself: the most favourable case
  for fd_gap) and *copies of random training images* (against the training split in its order, as the
  scorer compares them: a model that returns training images); 180 images each, over ``--draws`` random
  splits;
- the digits runs of ``--runs`` (default: the quick suite's), 360 samples each (the protocol's count),
  drawn with the evaluation seed 0, and Spearman's rho between the models' mean fd_gap and mean FD to the
  held-out split in each space (when the runs hold two models or more).

For the reference samplers it also computes the nearest-neighbour memorisation metrics ``ct`` and
``nn_ratio`` in both spaces (``--neighbour-draws`` splits), to tell whether the classifier's features mislead
them too; and for seed 0 of each stacked-digits run of ``--runs``, ``authenticity``, ``ct`` and ``nn_ratio`` in
both spaces on the scorer's samples, to tell whether pixels would mislead them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganbench.data import load_dataset  # noqa: E402
from ganbench.evaluation.evaluate import load_run_model  # noqa: E402
from ganbench.evaluation.extractors.classifier import get_classifier  # noqa: E402
from ganbench.evaluation.features import ProtocolExtractor, pixels  # noqa: E402
from ganbench.evaluation.protocol import MAX_FEATURE_N, default_protocol  # noqa: E402
from ganbench.evaluation.scoring import at_most, sample_model  # noqa: E402
from ganbench.metrics.generalisation import fd_generalisation  # noqa: E402
from ganbench.metrics.memorisation import authenticity, ct_statistic, nearest_neighbours, nn_ratio  # noqa: E402
from ganbench.runs import files  # noqa: E402

OUT = ROOT / "reports" / "fd-gap-features.md"
HALF = 180
SAMPLERS = ("fresh images", "unseen training images", "copies of the first training chunk",
            "copies of random training images")
NEIGHBOUR_SAMPLERS = ("fresh images", "unseen training images", "copies of training images")
NEIGHBOUR_METRICS = {"ct": ct_statistic, "nn_ratio": nn_ratio}
N_SAMPLES = 360  # the digits protocol's memo_fake


def spaces(dataset, clf):
    """Feature functions: the classifier's features and the flattened pixels, both float64."""
    return {"classifier": lambda x: np.asarray(clf.features_and_probs(x)[0], dtype=np.float64),
            "pixels": pixels}  # fmt: skip


def reference_gaps(dataset, feats: dict, draws: int, seed: int = 0) -> dict:
    """Per space and reference sampler: the fd_gap of each draw (see the module docstring)."""
    rng = np.random.default_rng(seed)
    train, test = dataset.train_float(), dataset.test_float()
    out = {}
    for space, f in feats.items():
        ft, fh = f(train), f(test)
        gaps = {name: [] for name in SAMPLERS}
        for _ in range(draws):
            ph, pt = rng.permutation(len(fh)), rng.permutation(len(ft))
            held = fh[ph[HALF:]]
            gaps["fresh images"].append(fd_generalisation(fh[ph[:HALF]], ft[pt], held)["fd_gap"])
            gaps["unseen training images"].append(fd_generalisation(ft[pt[-HALF:]], ft[pt[:-HALF]], held)["fd_gap"])
            # the first training chunk itself: a sampler that returns training images, the favourable case
            gaps["copies of the first training chunk"].append(fd_generalisation(ft[pt[:HALF]], ft[pt], held)["fd_gap"])
            # the same images against the training split in its order: the chunks hold about half of them
            gaps["copies of random training images"].append(fd_generalisation(ft[pt[:HALF]], ft, held)["fd_gap"])
        out[space] = {name: np.array(v) for name, v in gaps.items()}
    return out


def reference_neighbours(dataset, feats: dict, draws: int, seed: int = 0) -> dict:
    """Per space, sampler and nearest-neighbour metric (``ct``, ``nn_ratio``): the values over ``draws``
    splits drawn as ``reference_gaps`` draws them (the training set without the sampled rows)."""
    rng = np.random.default_rng(seed)
    train, test = dataset.train_float(), dataset.test_float()
    out = {}
    for space, f in feats.items():
        ft, fh = f(train), f(test)
        vals = {(name, m): [] for name in NEIGHBOUR_SAMPLERS for m in NEIGHBOUR_METRICS}
        for _ in range(draws):
            ph, pt = rng.permutation(len(fh)), rng.permutation(len(ft))
            held, ref = fh[ph[HALF:]], ft[pt[:-HALF]]
            gens = {"fresh images": fh[ph[:HALF]], "unseen training images": ft[pt[-HALF:]],
                    "copies of training images": ref[:HALF]}  # fmt: skip
            for name, gen in gens.items():
                for m, fn in NEIGHBOUR_METRICS.items():
                    vals[name, m].append(fn(gen, ref, held))
        out[space] = {k: np.array(v) for k, v in vals.items()}
    return out


def run_gaps(runs: Path, dataset, feats: dict) -> list[dict]:
    """fd_gap of the samples of every digits run under ``runs`` in each space."""
    rows = []
    train, test = dataset.train_float(), dataset.test_float()
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    for run in sorted(runs.glob("digits/*/seed-*")):
        if not (run / "checkpoint.pt").exists():
            continue
        model, cfg = load_run_model(run)
        with torch.no_grad():
            x = model.sample(N_SAMPLES, generator=torch.Generator().manual_seed(0)).float()
        row = {"model": cfg["model"], "seed": cfg["seed"]}
        for space, f in feats.items():
            g = fd_generalisation(f(x), f(train[order]), f(test))
            row[space] = g["fd_gap"]
            row[f"{space}_fd_heldout"] = g["fd_heldout"]
        rows.append(row)
    return rows


def stacked_neighbours(runs: Path) -> list[dict]:
    """authenticity, ct and nn_ratio of seed 0 of every stacked-digits run under ``runs``, on the scorer's samples
    (its 5,000 generated with the evaluation seed, 10,000 training and 5,000 held-out images), in pixels and in
    the classifier's features; and, in pixels, the median distance of the generated samples to their nearest
    image among 5,000 training and among the 5,000 held-out ones, and of the held-out images to the training
    ones (``d_real``)."""
    dataset = load_dataset("stacked-digits")
    p = default_protocol(dataset)
    ext = ProtocolExtractor(dataset, p)
    train_p = dataclasses.replace(p, reference_split="train")
    test_p = dataclasses.replace(p, reference_split="test", n_real=min(len(dataset.test), MAX_FEATURE_N))
    rows = at_most(np.arange(train_p.n_real), MAX_FEATURE_N, p.eval_seed)
    real = {"pixels": (ext.real_pixels(train_p, rows), ext.real_pixels(test_p)),
            "classifier": (np.asarray(ext.real(train_p)[1])[rows], np.asarray(ext.real(test_p)[1]))}  # fmt: skip
    out = []
    for run in sorted(runs.glob("stacked-digits/*/seed-0")):
        if not (run / "checkpoint.pt").exists():
            continue
        model, cfg = load_run_model(run)
        x = sample_model(model, p.n_fake, p.eval_seed)[:MAX_FEATURE_N]
        gen = {"pixels": pixels(x), "classifier": np.asarray(ext.features_and_probs(x)[0], dtype=np.float64)}
        row: dict = {"model": cfg["model"]}
        for space, (t, h) in real.items():
            g = gen[space]
            row[space] = {"authenticity": authenticity(g, t), "ct": ct_statistic(g, t, h, seed=p.eval_seed),
                          "nn_ratio": nn_ratio(g, t, h)}  # fmt: skip
        (t, h), g = real["pixels"], gen["pixels"]
        t = t[: len(h)]  # as many training images as held-out ones, so that the two distances compare
        row["d_train"], row["d_heldout"] = (float(np.median(nearest_neighbours(g, r)[0])) for r in (t, h))
        row["d_real"] = float(np.median(nearest_neighbours(h, t)[0]))
        out.append(row)
    return out


def stacked_section(rows: list[dict]) -> list[str]:
    """The report's section on ``stacked_neighbours``' rows (none without rows)."""
    if not rows:
        return []
    lines = ["", "## The nearest-neighbour metrics in pixels: blur reads as copying", "",
             "Stacked-digits runs (seed 0 of each model), on the samples the scorer compares: authenticity, ct and "
             "nn_ratio in the classifier's features and in pixels; then, in pixels, the median distance of the "
             "generated samples to their nearest training image and to their nearest held-out image (5,000 of each), "
             "and of the held-out images to the training ones.", "",
             "| model | authenticity, classifier | authenticity, pixels | ct, classifier | ct, pixels "
             "| nn_ratio, classifier | nn_ratio, pixels | d(gen, train) | d(gen, held-out) | d(held-out, train) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in rows:
        cells = [f"{r[s][m]:.3f}" if m != "ct" else f"{r[s][m]:.2f}" for m in ("authenticity", "ct", "nn_ratio")
                 for s in ("classifier", "pixels")]  # fmt: skip
        lines.append(f"| {r['model']} | {' | '.join(cells)} | {r['d_train']:.3f} | {r['d_heldout']:.3f} | "
                     f"{r['d_real']:.3f} |")
    near = [r for r in rows if r["d_train"] < r["d_real"]]
    if near:
        names = [r["model"] for r in near]
        names = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        lines += ["", f"Reading. The samples of {names} are as near the held-out images as the training ones "
                  f"(d(gen, train) / d(gen, held-out) {min(r['d_train'] / r['d_heldout'] for r in near):.3f} to "
                  f"{max(r['d_train'] / r['d_heldout'] for r in near):.3f}): they copy nothing. But in pixels they "
                  "are nearer the training images than real held-out images are (blurry images lie near everything "
                  "in Euclidean distance), so there ct falls to "
                  f"{min(r['pixels']['ct'] for r in near):.2f} and authenticity to "
                  f"{min(r['pixels']['authenticity'] for r in near):.3f}, the signs of copying, while in the "
                  "classifier's features they read as the other models do. So ganbench computes only fd_heldout and "
                  "fd_gap in pixels on these sets, and authenticity, ct and nn_ratio in the classifier's features."]
    return lines


def spearman_by_model(rows: list[dict]) -> dict | None:
    """Spearman's rho, per space, between the models' mean fd_gap and mean FD to the held-out split (``None``
    with fewer than three models)."""
    means = pd.DataFrame(rows).groupby("model").mean(numeric_only=True)
    if len(means) < 3:
        return None
    out = {s: stats.spearmanr(means[f"{s}_fd_heldout"], means[s]).statistic for s in ("classifier", "pixels")}
    return {**out, "models": len(means)}


def report(ref: dict, rows: list[dict], runs: str, neighbours: dict | None = None,
           stacked: list[dict] | None = None) -> str:  # fmt: skip
    lines = [
        "# fd_gap on digits: the classifier's features against raw pixels",
        "",
        "Made by `python scripts/fd_gap_features.py` (see its docstring). fd_gap = FD to the held-out split minus "
        "the mean FD to training chunks of the held-out split's size (`ganbench.metrics.generalisation`); the "
        "leaderboard reads it as nearer 0 the better, positive meaning copies of the training set. Reference "
        f"samplers: {HALF} images, mean ± sd over {len(next(iter(ref.values()))['fresh images'])} random splits.",
        "",
        "| sampler | fd_gap, classifier features | fd_gap, pixels |",
        "| --- | --- | --- |",
    ]
    for sampler in SAMPLERS:
        cells = [f"{ref[s][sampler].mean():.2f} ± {ref[s][sampler].std(ddof=1):.2f}" for s in ("classifier", "pixels")]
        lines.append(f"| {sampler} | {cells[0]} | {cells[1]} |")
    if neighbours:
        n = len(next(iter(neighbours.values()))["fresh images", "ct"])
        lines += ["", "The nearest-neighbour memorisation metrics of the same samplers (the training set without the "
                  f"sampled rows as their training data; mean ± sd over {n} splits): ct is about 0 and nn_ratio "
                  "about 1 for a model that generalises, ct strongly negative and nn_ratio 0 for copies.", "",
                  "| sampler | ct, classifier | ct, pixels | nn_ratio, classifier | nn_ratio, pixels |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for sampler in NEIGHBOUR_SAMPLERS:
            cells = [f"{neighbours[s][sampler, m].mean():.2f} ± {neighbours[s][sampler, m].std(ddof=1):.2f}"
                     for m in NEIGHBOUR_METRICS for s in ("classifier", "pixels")]  # fmt: skip
            lines.append(f"| {sampler} | {' | '.join(cells)} |")
    if rows:
        lines += ["", f"Trained runs ({runs}), {N_SAMPLES} samples each, evaluation seed 0:", "",
                  "| model | seed | FD to held-out, classifier | fd_gap, classifier | FD to held-out, pixels "
                  "| fd_gap, pixels |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for r in rows:
            lines.append(f"| {r['model']} | {r['seed']} | {r['classifier_fd_heldout']:.2f} | {r['classifier']:.2f} | "
                         f"{r['pixels_fd_heldout']:.3f} | {r['pixels']:.3f} |")  # fmt: skip
    c, px = ref["classifier"], ref["pixels"]

    def cell(space: dict, name: str) -> str:
        return f"{space[name].mean():.2f} ± {space[name].std(ddof=1):.2f}"

    lines += [
        "",
        f"Reading. With {HALF} images, fd_gap is a weak copy detector in either space. Copies of random training "
        "images (what a model that memorises returns, compared as the scorer compares them) give "
        f"{cell(px, 'copies of random training images')} in pixels against fresh images' {cell(px, 'fresh images')}, "
        f"and {cell(c, 'copies of random training images')} in the classifier's features, below fresh images' "
        f"{cell(c, 'fresh images')}; only copies that are the training chunk itself stand out, in pixels "
        f"({cell(px, 'copies of the first training chunk')}) and not in the classifier's features "
        f"({cell(c, 'copies of the first training chunk')}).",
    ]
    if rows:
        lo, hi = min(r["classifier"] for r in rows), max(r["classifier"] for r in rows)
        plo, phi = min(r["pixels"] for r in rows), max(r["pixels"] for r in rows)
        sign = " (all negative: 'closer to unseen data than to the training data')" if hi < 0 else ""
        lines[-1] += (f" The classifier's features add a bias: the trained runs' fd_gap there ranges from {lo:.2f} "
                      f"to {hi:.2f}{sign}, outside every reference sampler's mean; in pixels the same samples give "
                      f"{plo:.3f} to {phi:.3f}, beside fresh images.")
        rho = spearman_by_model(rows)
        if rho:
            lines[-1] += (f" Spearman's rho between the models' mean fd_gap and mean FD to the held-out split: "
                          f"{rho['classifier']:.2f} in the classifier's features, {rho['pixels']:.2f} in pixels "
                          f"({rho['models']} models).")
    if neighbours:
        fresh = [f"{neighbours[s]['fresh images', m].mean():.2f}" for m in NEIGHBOUR_METRICS
                 for s in ("classifier", "pixels")]  # fmt: skip
        lines[-1] += (" ct and nn_ratio read each sampler alike in the two spaces (fresh images: ct "
                      f"{fresh[0]} and {fresh[1]}, nn_ratio {fresh[2]} and {fresh[3]}; copies caught in both).")
    lines[-1] += (" So on sets scored with ganbench's classifier (trained on their training split) fd_heldout and "
                  "fd_gap compare pixels (`ganbench.evaluation.protocol.generalisation_space`; the fingerprint says "
                  "`generalisation_features: pixels`), and fd_gap is read as a check on the distribution, copies of "
                  "single images being the job of ct, nn_ratio and authenticity, which stay in the classifier's "
                  "features (next section).")
    lines += stacked_section(stacked or [])
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default=str(ROOT / "runs" / "quick"))
    p.add_argument("--draws", type=int, default=40)
    p.add_argument("--neighbour-draws", type=int, default=10, help="splits for ct and nn_ratio (k-means each)")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--runs-label", help="how the report names the runs (default: their folder)")
    args = p.parse_args(argv)
    dataset = load_dataset("digits")
    feats = spaces(dataset, get_classifier(dataset))
    runs = Path(args.runs).resolve()
    name = args.runs_label or (f"{runs.relative_to(ROOT)}: `ganbench run`, the quick suite" if runs.is_relative_to(ROOT)
                               else runs.name)  # fmt: skip
    text = report(reference_gaps(dataset, feats, args.draws), run_gaps(runs, dataset, feats), name,
                  reference_neighbours(dataset, feats, args.neighbour_draws), stacked_neighbours(runs))
    files.atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
