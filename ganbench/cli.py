"""The ``ganbench`` command line.

User mistakes print one line on stderr and exit with code 2; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from ganbench.bench import SETTINGS, bench
from ganbench.config import PRECISIONS, find_baseline, list_baselines, load_baseline
from ganbench.data import get_dataset_info, list_datasets
from ganbench.environment import resolve_device
from ganbench.errors import UserError
from ganbench.evaluation.evaluate import evaluate_run, evaluate_samples_file
from ganbench.evaluation.extractors import EXTRACTORS
from ganbench.evaluation.protocol import OPTION_FIELDS, parse_protocol_options
from ganbench.evaluation.tracking import tracker_for
from ganbench.human.scoring import format_score, score_study
from ganbench.human.server import StudyServer
from ganbench.human.study import prepare_study
from ganbench.models import MODELS, get_recipe, list_models
from ganbench.results.compare import compare
from ganbench.results.leaderboard import format_leaderboard, leaderboard
from ganbench.results.report import write_report
from ganbench.runs import files
from ganbench.runs.executors import make_executor
from ganbench.runs.layout import RunDir, StudyDir, iter_studies
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import load_suite, run_suite
from ganbench.training import train
from ganbench.training_batched import train_seeds


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UserError(f"{self.prog}: {message}")


def _int_list(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2; got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {v}")
    return v


class _RegistryChoices:
    """argparse ``choices`` read from ``ganbench.evaluation.extractors.EXTRACTORS`` when first needed.

    The registry's module imports torch; reading it lazily keeps ``ganbench --help`` and the commands
    that do not score anything as quick to start as the rest of this module's lazy imports.
    """

    def _names(self) -> list[str]:
        return EXTRACTORS.names()

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list registered datasets or models")
    p.add_argument("what", choices=["datasets", "models", "baselines"])
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=cmd_list)


def cmd_list(args) -> int:
    if args.what == "datasets":
        rows = [d.to_dict() for d in list_datasets()]
        rows.append({"name": "folder:PATH", "kind": "image", "shape": None, "num_modes": None, "source": "folder",
                     "description": "any folder of images (class subfolders give labels)"})  # fmt: skip
    elif args.what == "models":
        rows = [m.to_dict() for m in list_models()]
    else:
        rows = [b.summary() for b in list_baselines()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        if args.what == "datasets":
            shape = "x".join(map(str, r["shape"])) if r["shape"] else "?"
            print(f"{r['name']:<16} {r['kind']:<9} {shape:<8} modes={r['num_modes']!s:<5} {r['source']:<11} "
                  f"{r['description']}")  # fmt: skip
        elif args.what == "models":
            print(f"{r['name']:<10} {r['family']:<4} {r['description']}")
        else:
            print(f"{r['name']:<14} {r['model']:<10} {r['dataset']:<16} steps={r['steps']:<7} {r['file']}")
    return 0


def _add_train_settings(p, scope: str = "") -> None:
    """The TrainConfig settings the command line sets over the baseline's (None: the baseline's)."""
    p.add_argument("--precision", choices=PRECISIONS, help="training precision: fp32, or bf16 autocast")
    p.add_argument("--channels-last", action="store_true", default=None,
                   help=f"channels-last memory layout of the image models' weights and batches{scope}")


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train one model on one dataset with one seed")
    p.add_argument("model", help="a registered model, or a baseline's name on the dataset (e.g. dcgan-tf on mnist)")
    p.add_argument("--dataset", required=True, help="a registered dataset or folder:PATH")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--seeds", type=_int_list,
                   help="several seeds, e.g. 0,1,2: trained together as one batched model (replaces --seed)")
    p.add_argument("--no-vectorise", action="store_true", help="with --seeds: train the seeds one after another")
    p.add_argument("--steps", type=_positive_int, help="override the baseline's number of steps")
    p.add_argument("--batch-size", type=_positive_int, help="override the baseline's batch size")
    p.add_argument("--config", help="a baseline TOML file (default: baselines/<model>_<dataset>.toml)")
    p.add_argument("--out", default="runs", help="runs root (default ./runs)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--data-root", help="folder holding real datasets' files")
    p.add_argument("--no-eval", action="store_true", help="skip the cheap metrics during training")
    _add_train_settings(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    get_dataset_info(args.dataset)
    if args.config:
        cfg = load_baseline(args.config)
        if args.model not in (cfg.model, cfg.name) or cfg.dataset != args.dataset:
            raise UserError(f"--config {args.config} is for {cfg.name} on {cfg.dataset}, not {args.model} on "
                            f"{args.dataset}")  # fmt: skip
    else:
        cfg = find_baseline(args.model, args.dataset)  # an unknown name fails here, before anything is loaded
    cfg = dataclasses.replace(cfg, train=cfg.train.replace(steps=args.steps, batch_size=args.batch_size,
                                                           precision=args.precision, channels_last=args.channels_last))
    tracker = None if args.no_eval else tracker_for(cfg)
    common = {"device": args.device, "resume": args.resume, "data_root": args.data_root, "tracker": tracker}
    if args.seeds is not None:
        results = train_seeds(cfg, args.seeds, args.out, vectorised=not args.no_vectorise, **common)
    else:
        results = {args.seed: train(cfg, args.seed, args.out, **common)}
    for seed, result in results.items():
        where = RunDir.of(args.out, args.dataset, cfg.name, seed).path
        msg = f"{result.status}: {cfg.name} on {args.dataset}, seed {seed}, {result.steps} steps"
        msg += f" in {result.wall_time_s:.1f} s -> {where}"
        if result.reason:
            msg += f" ({result.reason})"
        print(msg)
    return 0


def _str_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run a suite of baselines x seeds, then print the leaderboard")
    p.add_argument("--suite", default="quick", help="quick (default), pacgan2d, pacgan2d-reduced, or a suite file")
    p.add_argument("--models", type=_str_list, help="only these models, e.g. gan,vae")
    p.add_argument("--datasets", type=_str_list, help="only these datasets, e.g. ring8,digits")
    p.add_argument("--seeds", type=_int_list, help="training seeds, e.g. 0,1,2 (default: the suite's)")
    p.add_argument("--jobs", type=_positive_int, help="parallel worker processes (default: number of cores)")
    p.add_argument("--out", help="runs folder (default runs/<suite>)")
    p.add_argument("--report", help="also write the report to this folder")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--data-root", help="folder holding real datasets' files")
    p.add_argument("--eval-seed", type=int, default=0, help="evaluation seed (default 0), apart from training seeds")
    _add_train_settings(p, " (jobs on image sets)")
    p.add_argument("--no-vectorise", action="store_true",
                   help="train every seed as its own job (default: a reference model's seeds train as one batch)")
    p.add_argument("--format", default="md", choices=["md", "csv", "html", "latex"], help="leaderboard format")
    p.add_argument("--executor", default="local", choices=["local", "ray", "slurm"],
                   help="where jobs run: local worker processes (default), Ray, or Slurm jobs")
    p.add_argument("--ray-address", help="join this Ray cluster (auto, or HOST:PORT); default: start Ray here")
    p.add_argument("--slurm-partition", help="Slurm partition (default: the cluster's default)")
    p.add_argument("--slurm-time", type=_positive_int, default=60,
                   help="time limit of each Slurm job in minutes (default 60); a job still running is requeued")
    p.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per Slurm job (default 0)")
    p.add_argument("--slurm-cpus", type=_positive_int, default=1, help="CPUs per Slurm job (default 1)")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    resolve_device(args.device)
    suite = load_suite(args.suite, args.models, args.datasets, args.seeds,
                       train={"precision": args.precision, "channels_last": args.channels_last})
    options = RunOptions(args.out or f"runs/{suite.name}", args.device, args.data_root, args.eval_seed,
                         vectorise=not args.no_vectorise)
    out = options.out
    executor = None  # local: run_suite sizes the worker pool
    if args.ray_address and args.executor != "ray":
        raise UserError("--ray-address needs --executor ray")
    if args.executor != "local":
        executor = make_executor(args.executor, args.jobs, ray_address=args.ray_address,
                                 slurm_partition=args.slurm_partition, slurm_time=args.slurm_time,
                                 slurm_gpus=args.slurm_gpus, slurm_cpus=args.slurm_cpus)  # fmt: skip
    run_suite(suite, options, jobs=args.jobs, log=lambda m: print(m, file=sys.stderr, flush=True), executor=executor)
    board = leaderboard(out)
    board = board[board["dataset"].isin(suite.datasets())]
    print(format_leaderboard(board, args.format))
    if args.report:
        index = write_report(out, args.report, data_root=args.data_root)
        print(f"report: {index}", file=sys.stderr)
    return 0


def _add_leaderboard(sub) -> None:
    p = sub.add_parser("leaderboard", help="print the leaderboard of a runs folder")
    p.add_argument("runs", help="runs folder")
    p.add_argument("--format", default="md", choices=["md", "csv", "html", "latex"])
    p.add_argument("--rank-all", action="store_true",
                   help="rank every row, also those whose curves have not plateaued (default: only plateaued rows)")
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args) -> int:
    print(format_leaderboard(leaderboard(args.runs, rank_all=args.rank_all), args.format))
    return 0


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="score a trained run, or a samples file from any framework")
    p.add_argument("run", nargs="?", help="a run directory (runs/<dataset>/<model>/seed-<N>)")
    p.add_argument("--samples", help=".npy or .npz (key 'samples') file of samples")
    p.add_argument("--dataset", help="the dataset the samples imitate (with --samples)")
    p.add_argument("--metrics", type=_str_list,
                   help="metrics to report (default: the dataset's default protocol; fd_inf only when named)")
    p.add_argument("--n", type=_positive_int, help="number of generated samples to score (standard sets: 50,000)")
    p.add_argument("--protocol", metavar="KEY=VALUE,...",
                   help="override protocol fields, e.g. is_splits=10,n_real=10000,kid_seed=0 (they enter the "
                        "fingerprint); keys: " + ", ".join(OPTION_FIELDS))  # fmt: skip
    p.add_argument("--eval-seed", type=int, default=0)
    p.add_argument("--extractor", choices=_RegistryChoices(), help="feature extractor")
    p.add_argument("--extractor-weights", "--inception-weights", metavar="PATH", help="the --extractor's weights file")
    p.add_argument("--offline", action="store_true", help="never download anything")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", help="folder holding real datasets' files")
    p.add_argument("--bootstrap", type=_positive_int, default=0, metavar="B",
                   help="also a 95%% interval per metric over B bootstrap resamples of the generated samples "
                        "(evaluation noise, apart from the spread over training seeds)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    if bool(args.run) == bool(args.samples):
        raise UserError("give either a run directory or --samples FILE --dataset NAME")
    common = dict(eval_seed=args.eval_seed, device=args.device, data_root=args.data_root, extractor=args.extractor,
                  n=args.n, metrics=args.metrics, extractor_weights=args.extractor_weights, offline=args.offline,
                  bootstrap=args.bootstrap, options=parse_protocol_options(args.protocol))
    if args.run:
        result = evaluate_run(args.run, **common)
    else:
        if not args.dataset:
            raise UserError("--samples needs --dataset NAME (the dataset the samples imitate)")
        result = evaluate_samples_file(args.samples, args.dataset, **common)
    ci = result.get("eval_ci95", {})
    if args.json:
        extra = {"eval_ci95": ci, "bootstrap_resamples": result["bootstrap_resamples"]} if ci else {}
        print(json.dumps({"metrics": result["metrics"], **extra, "fingerprint": result["fingerprint"]}, default=float))
    else:
        for k, v in result["metrics"].items():
            if not isinstance(v, list):
                line = f"{k:<14} {v:.6g}" if isinstance(v, float) else f"{k:<14} {v}"
                print(line + (f"  [{ci[k][0]:.6g}, {ci[k][1]:.6g}]" if k in ci else ""))
        print(f"fingerprint    {result['fingerprint']['id']}")
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="write an HTML + Markdown report of a runs folder")
    p.add_argument("runs", help="runs folder")
    p.add_argument("-o", "--out", required=True, help="output folder (index.html, README.md, figures)")
    p.add_argument("--data-root", help="folder of the real datasets' files, for the real-image figures "
                                       "(default: $GANBENCH_DATA or ~/.cache/ganbench/data)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    print(write_report(args.runs, args.out, data_root=args.data_root))
    return 0


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="compare a new model (or sampler, or samples file) with the baselines")
    p.add_argument("target", help="module:attr (model factory or trained sampler), a .npy/.npz samples file, "
                                  "or a ganbench.models entry point")  # fmt: skip
    p.add_argument("--dataset", required=True)
    p.add_argument("--seeds", type=_int_list, help="training seeds (default: the suite's)")
    p.add_argument("--runs", help="the baselines' runs folder (default runs/<suite>)")
    p.add_argument("--suite", default="quick", help="suite whose baselines and budget apply (default quick)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--jobs", type=_positive_int)
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-seed", type=int, default=0)
    p.add_argument("--data-root", help="folder holding real datasets' files")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    res = compare(args.target, args.dataset, args.out, seeds=args.seeds, runs=args.runs, jobs=args.jobs,
                  device=args.device, eval_seed=args.eval_seed, data_root=args.data_root, suite=args.suite,
                  log=lambda m: print(m, file=sys.stderr, flush=True))  # fmt: skip
    print(open(res["report"], encoding="utf-8").read())
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="time training steps: ms/step, samples/s, memory, FLOPs, utilisation")
    p.add_argument("models", nargs="?", type=_str_list, help="models, e.g. gan,vae (default: all)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--batch-size", type=_positive_int, help="default: the baseline's")
    p.add_argument("--steps", type=_positive_int, default=50, help="timed steps (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed warm-up steps (default 10)")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (training precision bf16)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory layout (image sets)")
    p.add_argument("--sweep", action="store_true", help="a row per setting: fp32, bf16, each channels-last too")
    p.add_argument("--compile", action="store_true", help="torch.compile the model's networks")
    p.add_argument("--out", help="runs folder: write <out>/<dataset>/<model>/bench.json (joins the leaderboard)")
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    kind = get_dataset_info(args.dataset).kind
    models = args.models or MODELS.names()
    for m in models:
        get_recipe(m)
    if args.warmup < 0:
        raise UserError(f"--warmup must be >= 0; got {args.warmup}")
    settings = ([s for s in SETTINGS if kind == "image" or not s[1]] if args.sweep
                else [("bf16" if args.amp else "fp32", args.channels_last)])  # fmt: skip
    rows = bench(models, args.dataset, out=args.out, settings=settings, batch_size=args.batch_size, steps=args.steps,
                 warmup=args.warmup, device=args.device, compile=args.compile)  # fmt: skip
    for r in rows:
        if args.json:
            print(json.dumps(r, default=str))
        elif r["error"]:
            print(f"{r['model']:<10} {r['dataset']:<14} {r['setting']:<18} error: {r['error']}")
        else:
            flops = f"{r['flops_per_step'] / 1e6:9.1f} MFLOP {100 * r['utilisation']:5.1f}% of matmul peak" if r[
                "flops_per_step"] else "FLOPs not countable"  # fmt: skip
            print(f"{r['model']:<10} {r['dataset']:<14} {r['setting']:<18} {r['step_ms_median']:8.2f} ms/step (IQR "
                  f"{r['step_ms_iqr']:.2f}) {r['samples_per_s']:9.0f} {'images' if kind == 'image' else 'samples'}/s "
                  f"{r['peak_memory_mb']:7.0f} MB {flops}")
    return 0


def _add_human_eval(sub) -> None:
    p = sub.add_parser("human-eval", help="collect real-vs-generated judgments on a local web page (HYPE-infinity)")
    p.add_argument("runs", help="runs folder")
    p.add_argument("--dataset", help="the image dataset to study (default: the only one in RUNS)")
    p.add_argument("--models", type=_str_list, help="only these models (default: every completed one)")
    p.add_argument("--n-per-model", type=_positive_int, help="generated images per model (default 50)")
    p.add_argument("--n-real", type=_positive_int, help="real held-out images (default: --n-per-model)")
    p.add_argument("--checks", type=int, help="attention checks, images of noise (default 4)")
    p.add_argument("--max-failed-checks", type=int, help="raters calling more checks real are excluded (default 1)")
    p.add_argument("--order-seed", type=int, help="seed of the real images' choice and the raters' orders (default 0)")
    p.add_argument("--eval-seed", type=int, help="seed the models sample under (default 0)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", help="folder holding real datasets' files")
    p.add_argument("--score", action="store_true", help="score the study's judgments instead of serving it")
    p.add_argument("--json", action="store_true", help="with --score: print one JSON object")
    p.set_defaults(func=cmd_human_eval)


def cmd_human_eval(args) -> int:
    for flag, v in (("--checks", args.checks), ("--max-failed-checks", args.max_failed_checks)):
        if v is not None and v < 0:
            raise UserError(f"{flag} must be >= 0; got {v}")
    if args.score:
        return _score_study(args)
    sdir = prepare_study(args.runs, args.dataset, args.models, args.n_per_model, args.n_real, args.checks,
                         args.max_failed_checks, args.order_seed, args.eval_seed, args.device, args.data_root)
    try:
        server = StudyServer(sdir, args.host, args.port)
    except OSError as e:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({e.strerror}); pass another --port") from None
    study = sdir.read_study()
    print(f"human evaluation of {study['dataset']}: {len(study['items'])} images per rater; judgments go to "
          f"{sdir.judgments}", file=sys.stderr)  # fmt: skip
    print(f"open {server.url} (each rater: their own browser, or the page's \"new rater\" link; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f"stopped; score with: ganbench human-eval {args.runs} --score", file=sys.stderr)
    return 0


def _score_study(args) -> int:
    studies = [StudyDir.of(args.runs, args.dataset)] if args.dataset else list(iter_studies(args.runs))
    studies = [s for s in studies if s.read_study() is not None]
    if len(studies) != 1:
        raise UserError(f"{args.runs} has no human study{' of ' + args.dataset if args.dataset else ''}; start one "
                        f"with `ganbench human-eval {args.runs}`" if not studies else
                        f"{args.runs} has studies of several datasets; pass --dataset")  # fmt: skip
    sdir = studies[0]
    result = score_study(sdir.read_study(), files.read_jsonl(sdir.judgments))
    files.atomic_write_json(sdir.scores, result)
    print(json.dumps(result, default=float) if args.json else format_score(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ganbench", description="Benchmark generative image models under one recorded protocol.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_list(sub)
    _add_train(sub)
    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


_EXTRA_COMMANDS: list = [_add_run, _add_leaderboard, _add_eval, _add_report, _add_compare, _add_bench,
                         _add_human_eval]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UserError as e:
        print(f"ganbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
