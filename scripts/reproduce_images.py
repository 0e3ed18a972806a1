"""Train the paper-images suite on a GPU and write reports/images.md beside the published numbers.

    python scripts/reproduce_images.py --data-root DIR [--out runs/paper-images] [--datasets mnist ...]
        [--models dcgan-tf lsgan ...] [--seeds 0 1 2] [--eval-seeds 0 1 2] [--inception-weights PATH]
        [--offline] [--no-run] [--report reports/images.md]

It needs a CUDA device and the datasets' files under --data-root (torchvision's layout: MNIST/raw/,
FashionMNIST/raw/, cifar-10-batches-py/; stacked-mnist is built from MNIST's); without either it prints one
line saying which and exits 2. It then trains the suite (finished jobs are skipped, interrupted ones resume;
each run is also scored under ganbench's standard protocol), scores every complete run under each published
row's protocol (FID with the Inception network at 10,000 generated vs 10,000 training images for CIFAR-10,
MNIST and Fashion-MNIST; modes and KL on 26,000 samples for Stacked MNIST; a score already stored under the
same fingerprint is reused), and writes the report: ganbench's values beside the published ones, each row
with its protocol differences, then the leaderboard under the standard protocol and the runs still missing.
The published values are copied from the sources named in each row: references, not computed here.

A smoke run on a CPU (--allow-cpu) takes --steps, --batch-size, --eval-every, --n and --protocol (the standard
scoring's count and fields), --fid-extractor classifier, --fid-n and --modes-n; its report says it is not
comparable.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganbench.data import load_dataset
from ganbench.data.real import resolve_data_root
from ganbench.environment import git_commit
from ganbench.errors import UserError
from ganbench.evaluation.evaluate import evaluate_run
from ganbench.evaluation.extractors.inception import resolve_inception_weights
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import (
    default_protocol,
    fingerprint,
    parse_protocol_options,
)
from ganbench.results.leaderboard import format_leaderboard, leaderboard
from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import Suite, load_suite, run_suite

ROOT = Path(__file__).resolve().parent.parent

DATASETS = ["mnist", "fashion-mnist", "cifar10", "stacked-mnist"]
_LUCIC = ("Lucic et al. 2018 report the best FID over 100 sampled hyperparameter settings (and restarts) per "
          "model; ganbench's row is one fixed setting, averaged over training seeds")  # fmt: skip
_LUCIC_PLAN = ("budget: Lucic et al. train 20 epochs at batch 64 with z of 64 dimensions; ganbench's mnist and "
               "fashion-mnist baselines train 11,750 updates at batch 256 (TensorFlow's tutorial) with z of 100")  # fmt: skip
_LUCIC_NETS = ("networks: ganbench's are TensorFlow's DCGAN tutorial's (28x28); Lucic et al.'s architecture is "
               "not checked here")  # fmt: skip
_FID = ("FID: Inception features by torch-fidelity's TensorFlow-compatible port (gray repeated to RGB, bilinear "
        "resize to 299x299), 10,000 generated vs 10,000 training images drawn by the evaluation seed (the defaults "
        "of --fid-n and --fid-extractor)")  # fmt: skip
_PACGAN_DATA = ("data: PacGAN's code stacks 3 digits drawn with replacement from MNIST's 70,000 train and test "
                "digits, resamples its 128,000 stacks with replacement for each packing degree, keeps pixels in "
                "[0, 1] against a tanh generator and feeds the batches in one fixed order; ganbench stacks "
                "digits of the 60,000 training digits only (128,000 stacks, fixed data seed), in [-1, 1], "
                "reshuffled every epoch")  # fmt: skip
_PACGAN_NETS = ("networks: Kim's DCGAN-tensorflow plan as PacGAN's model.py builds it, in PyTorch: symmetric "
                "padding where TensorFlow's 'SAME' pads the odd row and column at the end; convolution weights "
                "N(0, 0.02) where TensorFlow truncates them at 2 sd; batch-norm scales N(1, 0.02) where "
                "tf.contrib's start at 1")  # fmt: skip
_PACGAN_EVAL = ("evaluation: both count modes of 26,000 samples, each channel's digit by an MNIST classifier "
                "(PacGAN's: Keras's mnist_cnn example, train_mnist.py; ganbench's: its own CNN trained under a "
                "fixed seed, accuracy below); PacGAN evaluates after every epoch from fixed latents, ganbench "
                "the final model with evaluation seed 0; KL(p_gen || uniform(1000)) in both")  # fmt: skip


@dataclass(frozen=True)
class Row:
    """A published number and how ganbench scores the baseline it is set beside."""

    dataset: str
    name: str  # the ganbench baseline
    kind: str  # "fid" or "modes"
    published: str
    source: str
    differences: tuple[str, ...]
    options: tuple = ()  # protocol fields beyond the kind's own (e.g. the reference split)


_MIMICRY = (
    ("networks: Mimicry's DCGAN (dcgan_cifar.py) is Kurach et al.'s ResNet-backbone DCGAN (z 128, 256 channels, "
     "sigmoid output on [0, 1] images); ganbench's dcgan-pytorch is the PyTorch example's transposed-conv net cut "
     "to 32x32, tanh on [-1, 1]"),
    ("training: ganbench follows the PyTorch example (19,550 updates at batch 64, Adam 2e-4, beta1 0.5); Mimicry's "
     "DCGAN training settings are not checked here"),
    _FID,
    ("spread: Mimicry's ± is over evaluation seeds of one trained model (per the reference notes); ganbench's is "
     "the sd over training seeds of each run's mean over evaluation seeds"),
)
_STUDIOGAN = (
    "networks and training: StudioGAN's DCGAN is another architecture and protocol under the same name (not checked here)",
    _FID.replace("training images", "test images"),
    "a second reference for the same baseline: the gap between the two published numbers is the protocols' own",
)
_DAI_WIPF = (
    ("networks and training: Dai and Wipf's VAE and budget, not ganbench's (the TensorFlow tutorial's networks, "
     "11,750 updates)"),
    _FID,
)
_LUCIC_ALL = (_LUCIC, _LUCIC_PLAN, _LUCIC_NETS, _FID)
_PACGAN_ALL = (_PACGAN_DATA, _PACGAN_NETS, _PACGAN_EVAL)
_NS = "Lucic et al. 2018, best FID of the non-saturating GAN (NS)"

ROWS = [
    Row("cifar10", "dcgan-pytorch", "fid", "28.95 ± 0.42 (28.12 reported by Kurach et al.)",
        "Mimicry README, Reproducibility table: DCGAN, 10K real / 10K fake", _MIMICRY),
    Row("cifar10", "dcgan-pytorch", "fid", "49.030 (IS 6.638)", "StudioGAN's DCGAN on CIFAR-10, 10k vs 10k test",
        _STUDIOGAN, (("reference_split", "test"),)),
    Row("mnist", "dcgan-tf", "fid", "6.8", _NS, _LUCIC_ALL),
    Row("mnist", "lsgan", "fid", "7.8", "Lucic et al. 2018, best FID of LSGAN", _LUCIC_ALL),
    Row("mnist", "wgan-gp", "fid", "20.3", "Lucic et al. 2018, best FID of WGAN-GP", _LUCIC_ALL),
    Row("mnist", "vae", "fid", "16.6", "Dai and Wipf 2019 (quoted beside Lucic et al.'s table), untuned VAE", _DAI_WIPF),
    Row("fashion-mnist", "dcgan-tf", "fid", "26.5", _NS, _LUCIC_ALL),
    Row("fashion-mnist", "lsgan", "fid", "30.7", "Lucic et al. 2018, best FID of LSGAN", _LUCIC_ALL),
    Row("fashion-mnist", "wgan-gp", "fid", "24.5", "Lucic et al. 2018, best FID of WGAN-GP", _LUCIC_ALL),
    Row("fashion-mnist", "vae", "fid", "43.6", "Dai and Wipf 2019 (quoted beside Lucic et al.'s table), untuned VAE",
        _DAI_WIPF),
    Row("stacked-mnist", "dcgan", "modes", "78.9 ± 6.46 modes, KL 4.50 ± 0.127",
        "PacGAN Table 2 (10 trials), DCGAN; VEEGAN Table 2 has 99 modes, KL 3.4", _PACGAN_ALL),
    Row("stacked-mnist", "pacdcgan2", "modes", "1000 ± 0.00 modes, KL 0.06", "PacGAN Table 2 (10 trials), PacDCGAN2",
        _PACGAN_ALL),
]


# -- checks, suite, runs ------------------------------------------------------------------------------


def check_environment(args) -> str | None:
    """The line to print when this machine cannot run the suite (no CUDA device, missing files), else None."""
    if not torch.cuda.is_available() and not args.allow_cpu:
        return ("reproduce_images: no CUDA device (torch.cuda.is_available() is False): these are GPU-scale "
                "runs; run on a GPU machine, or pass --allow-cpu with --steps for a smoke run")  # fmt: skip
    missing = []
    for d in args.datasets:
        try:
            load_dataset(d, data_root=args.data_root)
        except UserError as e:
            missing.append((d, str(e)))
    if missing:
        return (f"reproduce_images: no data for {', '.join(d for d, _ in missing)} under "
                f"{resolve_data_root(args.data_root)} ({missing[0][1]})")  # fmt: skip
    if args.fid_extractor == "inception" and any(r.kind == "fid" and r.dataset in args.datasets for r in ROWS):
        try:  # before hours of training: the FID rows need the weights
            resolve_inception_weights(args.inception_weights, args.offline)
        except UserError as e:
            return f"reproduce_images: no Inception weights for the FID rows ({e})"
    return None


def make_suite(args) -> Suite:
    suite = load_suite("paper-images", args.models, args.datasets, args.seeds)
    if not (args.steps or args.batch_size or args.eval_every is not None):
        return suite
    jobs = []
    for j in suite.jobs:
        tc = j.config.train.replace(steps=args.steps, batch_size=args.batch_size)
        every = min(tc.eval_every, tc.steps) if args.eval_every is None else args.eval_every
        tc = dataclasses.replace(tc, eval_every=every, checkpoint_every=tc.steps, log_every=min(tc.log_every, tc.steps))
        jobs.append(dataclasses.replace(j, config=dataclasses.replace(j.config, train=tc)))
    return Suite(suite.name, suite.description, tuple(jobs))


class Scorer:
    """Scores runs under the rows' protocols, reusing a score stored under the same fingerprint."""

    def __init__(self, args, device: str) -> None:
        self.args, self.device = args, device
        self._info: dict = {}

    def request(self, row: Row) -> dict:
        """``evaluate_run``'s protocol arguments for ``row`` (all but the evaluation seed)."""
        a = self.args
        if row.kind == "fid":
            return {"extractor": a.fid_extractor, "n": a.fid_n, "metrics": ["fd"],
                    "options": {"n_real": a.fid_n, **dict(row.options)}}  # fmt: skip
        return {"extractor": None, "n": a.modes_n, "metrics": ["modes_covered", "mode_kl"],
                "options": {"n_modes": a.modes_n, **dict(row.options)}}  # fmt: skip

    def fingerprint_id(self, dataset, protocol) -> str:
        key = (dataset.name, protocol.extractor)
        if key not in self._info:
            self._info[key] = ProtocolExtractor(dataset, protocol, self.device, self.args.inception_weights,
                                                self.args.offline).info()  # fmt: skip
        return fingerprint(protocol, self._info[key], dataset)["id"]

    def standard_id(self, name: str) -> str:
        """The fingerprint id of the suite's own scoring (``ganbench run``'s, with --n and --protocol)."""
        dataset = load_dataset(name, data_root=self.args.data_root)
        options = parse_protocol_options(self.args.protocol)
        return self.fingerprint_id(dataset, default_protocol(dataset, None, self.args.n, 0, None, options))

    def score(self, run: RunDir, row: Row, eval_seed: int) -> dict:
        dataset = load_dataset(row.dataset, data_root=self.args.data_root)
        req = self.request(row)
        protocol = default_protocol(dataset, req["extractor"], req["n"], eval_seed, req["metrics"], req["options"])
        stored = run.read_scores().get(self.fingerprint_id(dataset, protocol))
        if stored is not None:
            return stored
        return evaluate_run(run.path, eval_seed, self.device, self.args.data_root,
                            extractor_weights=self.args.inception_weights, offline=self.args.offline, **req)  # fmt: skip


def complete_runs(out: Path, suite: Suite, dataset: str, name: str) -> list[RunDir]:
    runs = [j.run_dir(out) for j in suite.jobs if (j.config.dataset, j.config.name) == (dataset, name)]
    return [r for r in runs if (r.read_result() or {}).get("status") == "complete"]


# -- the report ---------------------------------------------------------------------------------------


def _pm(values: np.ndarray, digits: int, se: bool = False) -> str:
    if len(values) == 0:
        return "no run"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    spread = values.std(ddof=1) / (np.sqrt(len(values)) if se else 1)
    return f"{values.mean():.{digits}f} ± {spread:.{digits}f} ({len(values)} seeds, {'s.e.' if se else 'sd'})"


def row_values(scorer: Scorer, out: Path, suite: Suite, row: Row, eval_seeds: list[int]) -> dict:
    """Per run: the mean over evaluation seeds of each metric; the rows' cells and the classifier's accuracy."""
    runs = complete_runs(out, suite, row.dataset, row.name)
    seeds = eval_seeds if row.kind == "fid" else eval_seeds[:1]
    per_run, eval_sd, extractor = [], [], {}
    for run in runs:
        scores = [scorer.score(run, row, s) for s in seeds]
        extractor = scores[0]["fingerprint"]["extractor"]
        metrics = ("fd",) if row.kind == "fid" else ("modes_covered", "mode_kl")
        per_run.append([np.mean([sc["metrics"][m] for sc in scores]) for m in metrics])
        if len(scores) > 1:
            eval_sd.append(np.std([sc["metrics"]["fd"] for sc in scores], ddof=1))
    if not per_run:
        return {"cell": "no complete run", "n": 0, "extractor": {}}
    vals = np.array(per_run, dtype=float)
    if row.kind == "fid":
        cell = f"FID {_pm(vals[:, 0], 2)}"
        if eval_sd:
            cell += f"; evaluation-seed sd {np.mean(eval_sd):.2f} ({len(seeds)} seeds)"
    else:
        cell = f"{_pm(vals[:, 0], 1, se=True)} modes, KL {_pm(vals[:, 1], 3, se=True)}"
    return {"cell": cell, "n": len(runs), "extractor": extractor}


def standard_board(out: Path, scorer: Scorer, datasets: list[str]) -> str:
    """The leaderboard of the runs' standard scores (the paper rows' scores have other fingerprints) and the
    real-data rows."""
    if not out.is_dir():
        return "No runs yet."
    board = leaderboard(out)
    if board.empty:
        return "No scored runs yet."
    ids = {scorer.standard_id(d) for d in datasets}
    return format_leaderboard(board[board.fingerprint.isin(ids) | (board.model == "real-data")], "md")


def write_report(path: Path, args, suite: Suite, scorer: Scorer, device: str) -> str:
    out = Path(args.out)
    smoke = bool(args.steps or args.batch_size or args.eval_every is not None or args.n or args.protocol
                 or args.fid_extractor != "inception"
                 or args.fid_n != 10_000 or args.modes_n != 26_000)  # fmt: skip
    where = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    lines = ["# Real image benchmarks: ganbench's classic DCGANs beside the published numbers", "",
             (f"Written by `python scripts/reproduce_images.py {' '.join(args.argv)}` on "
              f"{datetime.date.today().isoformat()}, git commit {git_commit() or 'unknown'}, device {where}, "
              f"torch {torch.__version__}."), ""]  # fmt: skip
    if smoke:
        lines += [(f"**Smoke run, not the published budgets or protocols**: steps {args.steps or 'as published'}, "
                   f"batch size {args.batch_size or 'as published'}, FID extractor {args.fid_extractor} on "
                   f"{args.fid_n} samples, modes on {args.modes_n}. These numbers test the pipeline; they are not "
                   "comparable with the published ones."), ""]  # fmt: skip
    lines += ["Training seeds: " + ", ".join(map(str, sorted({j.seed for j in suite.jobs}))) + "; evaluation seeds: "
              + ", ".join(map(str, args.eval_seeds)) + f" (FID rows; mode rows use {args.eval_seeds[0]}). "
              "Baselines and plans: docs/image-baselines.md.", ""]  # fmt: skip
    names = {(j.config.dataset, j.config.name) for j in suite.jobs}
    for dataset in [d for d in DATASETS if d in args.datasets]:
        rows = [r for r in ROWS if r.dataset == dataset and (r.dataset, r.name) in names]
        if not rows:
            continue
        lines += [f"## {dataset}", "", "| ganbench baseline | ganbench | published | source |", "| --- | --- | --- | --- |"]
        details = []
        for i, row in enumerate(rows, 1):
            v = row_values(scorer, out, suite, row, args.eval_seeds)
            lines.append(f"| {row.name} [{i}] | {v['cell']} | {row.published} | {row.source} |")
            acc = v["extractor"].get("test_accuracy")
            extra = f" The classifier's MNIST test accuracy: {acc:.4f}." if row.kind == "modes" and acc else ""
            details.append(f"[{i}] Protocol differences ({row.name}, {row.source}):{extra}")
            details += [f"- {d}" for d in row.differences] + [""]
        lines += ["", *details]
    lines += ["## ganbench's standard protocol", "",
              "Every run scored as `ganbench run` scores it (the dataset's default protocol, classifier features)."
              + (" Smoke run: at the counts given by --n and --protocol." if smoke else ""), "",
              standard_board(out, scorer, [d for d in DATASETS if d in args.datasets]), "", "## Runs", ""]  # fmt: skip
    missing = [j.id for j in suite.jobs if (j.run_dir(out).read_result() or {}).get("status") != "complete"]
    lines.append(f"{len(suite.jobs) - len(missing)} of {len(suite.jobs)} runs complete."
                 + ("" if not missing else " Not complete: " + ", ".join(missing) + "."))  # fmt: skip
    text = "\n".join(lines) + "\n"
    files.atomic_write_text(path, text)
    return text


# -- main -----------------------------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", help="the datasets' files (default $GANBENCH_DATA, ~/.cache/ganbench/data)")
    ap.add_argument("--out", default="runs/paper-images")
    ap.add_argument("--datasets", nargs="+", choices=DATASETS, default=DATASETS)
    ap.add_argument("--models", nargs="+", help="baseline names or models, e.g. dcgan-tf lsgan (default: all)")
    ap.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: the suite's 0 1 2)")
    ap.add_argument("--eval-seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--report", default=str(ROOT / "reports" / "images.md"))
    ap.add_argument("--no-run", action="store_true", help="do not train; score and report the runs in --out")
    ap.add_argument("--inception-weights", help="pt_inception-2015-12-05 weights file (default: torch-fidelity's)")
    ap.add_argument("--offline", action="store_true", help="never download the Inception weights")
    ap.add_argument("--fid-extractor", default="inception", choices=["inception", "classifier"])
    ap.add_argument("--fid-n", type=int, default=10_000, help="generated and real images of each FID (10,000)")
    ap.add_argument("--modes-n", type=int, default=26_000, help="samples whose modes are counted (26,000)")
    ap.add_argument("--allow-cpu", action="store_true", help="run without CUDA (smoke runs only)")
    ap.add_argument("--steps", type=int, help="smoke runs: every baseline's steps")
    ap.add_argument("--batch-size", type=int, help="smoke runs: every baseline's batch size")
    ap.add_argument("--eval-every", type=int, help="smoke runs: steps between evaluations in training (0: none)")
    ap.add_argument("--n", type=int, help="smoke runs: generated samples of the standard scoring")
    ap.add_argument("--protocol", help="smoke runs: protocol fields of the standard scoring, e.g. n_real=40")
    args = ap.parse_args(argv)
    args.argv = list(argv)
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    problem = check_environment(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        suite = make_suite(args)
        if not args.no_run:
            options = RunOptions(args.out, device, args.data_root, eval_n=args.n,
                                 eval_options=parse_protocol_options(args.protocol))  # fmt: skip
            run_suite(suite, options, jobs=1, log=lambda m: print(m, file=sys.stderr, flush=True))
        write_report(Path(args.report), args, suite, Scorer(args, device), device)
    except UserError as e:
        print(f"reproduce_images: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
