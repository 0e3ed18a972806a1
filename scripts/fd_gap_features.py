"""Does ``fd_gap`` on digits measure memorisation, or the digits classifier? Writes reports/fd-gap-features.md.

    python scripts/fd_gap_features.py [--runs runs/quick] [--draws 40]

``fd_gap`` (``ganbench.metrics.generalisation``) is the FD of a model's samples to the held-out split minus
their FD to as many training images: about 0 for a model that generalises, positive for one that copies its
training set. On digits the features are those of ganbench's digits classifier, which was trained on the
training split, so training and held-out images need not be exchangeable in them. This script computes
``fd_gap`` with the same function in two feature spaces, the classifier's and the raw pixels (64 grey
levels in [-1, 1], fit to nothing), for

- two reference samplers without a model: *fresh images* (one random half of the test split, the other
  half held out: images like the held-out ones that neither the models nor the classifier saw) and
  *unseen training images* (training images outside the training chunks fd_gap compares with, which the
  classifier did see), and *copies of training images* (the first training chunk itself: a sampler that
  returns training images); 180 images each, over ``--draws`` random splits;
- the digits runs of ``--runs`` (default: the quick suite's), 360 samples each (the protocol's count),
  drawn with the evaluation seed 0.

For the reference samplers it also computes the nearest-neighbour memorisation metrics ``ct`` and
``nn_ratio`` in both spaces (``--neighbour-draws`` splits), to tell whether the classifier's features mislead
them too.
"""

from __future__ import annotations

import argparse
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
from ganbench.metrics.generalisation import fd_generalisation  # noqa: E402
from ganbench.metrics.memorisation import ct_statistic, nn_ratio  # noqa: E402
from ganbench.runs import files  # noqa: E402

OUT = ROOT / "reports" / "fd-gap-features.md"
BOARD = ROOT / "reports" / "standard-suite" / "leaderboard.csv"
HALF = 180
SAMPLERS = ("fresh images", "unseen training images", "copies of training images")
NEIGHBOUR_METRICS = {"ct": ct_statistic, "nn_ratio": nn_ratio}
N_SAMPLES = 360  # the digits protocol's memo_fake


def spaces(dataset, clf):
    """Feature functions: the classifier's features and the flattened pixels, both float64."""
    return {"classifier": lambda x: np.asarray(clf.features_and_probs(x)[0], dtype=np.float64),
            "pixels": lambda x: x.reshape(len(x), -1).double().numpy()}  # fmt: skip


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
            # the first training chunk itself: a sampler that returns training images
            gaps["copies of training images"].append(fd_generalisation(ft[pt[:HALF]], ft[pt], held)["fd_gap"])
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
        vals = {(name, m): [] for name in SAMPLERS for m in NEIGHBOUR_METRICS}
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


def report(ref: dict, rows: list[dict], runs: str, neighbours: dict | None = None) -> str:
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
        for sampler in SAMPLERS:
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
        f"Reading. With {HALF} images, the classifier's features do not tell copies of training images from fresh "
        f"images ({cell(c, 'copies of training images')} against {cell(c, 'fresh images')}), while the pixels "
        f"separate them ({cell(px, 'copies of training images')} against {cell(px, 'fresh images')}). The "
        "leaderboard's digits fd_gap is the classifier-feature column, at 360 images (less noisy than here, in the "
        "same features).",
    ]
    if rows:
        lo, hi = min(r["classifier"] for r in rows), max(r["classifier"] for r in rows)
        plo, phi = min(r["pixels"] for r in rows), max(r["pixels"] for r in rows)
        sign = " (all negative: 'closer to unseen data than to the training data')" if hi < 0 else ""
        lines[-1] += (f" The trained runs' classifier fd_gap ranges from {lo:.2f} to {hi:.2f}{sign}, outside "
                      f"every reference sampler's mean; in pixels the same samples give {plo:.3f} to {phi:.3f}.")
    if neighbours:
        fresh = [f"{neighbours[s]['fresh images', m].mean():.2f}" for m in NEIGHBOUR_METRICS
                 for s in ("classifier", "pixels")]  # fmt: skip
        lines[-1] += (" ct and nn_ratio, by contrast, read each sampler alike in the two spaces (fresh images: ct "
                      f"{fresh[0]} and {fresh[1]}, nn_ratio {fresh[2]} and {fresh[3]}; copies caught in both), so "
                      "this is about fd_gap.")
    board = pd.read_csv(BOARD)
    parts = []
    for ds in ("digits", "stacked-digits"):
        b = board[(board.dataset == ds) & (board.model != "real-data")]
        rho = stats.spearmanr(b.fd_mean, b.fd_gap_mean).statistic
        parts.append(f"{rho:.2f} on {ds} ({len(b)} models, fd_gap {b.fd_gap_mean.min():.2f} to "
                     f"{b.fd_gap_mean.max():.2f})")
    lines[-1] += (f" In the published standard suite (`{BOARD.relative_to(ROOT)}`), Spearman's rho between the "
                  f"models' mean fd_gap and mean FD is {' and '.join(parts)}: the worse the samples, the more "
                  "negative the gap.")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default=str(ROOT / "runs" / "quick"))
    p.add_argument("--draws", type=int, default=40)
    p.add_argument("--neighbour-draws", type=int, default=10, help="splits for ct and nn_ratio (k-means each)")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    dataset = load_dataset("digits")
    feats = spaces(dataset, get_classifier(dataset))
    runs = Path(args.runs).resolve()
    name = f"{runs.relative_to(ROOT)}: `ganbench run`, the quick suite" if runs.is_relative_to(ROOT) else runs.name
    text = report(reference_gaps(dataset, feats, args.draws), run_gaps(runs, dataset, feats), name,
                  reference_neighbours(dataset, feats, args.neighbour_draws))
    files.atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
