"""Train the classifier evaluators that ship with ganbench into ganbench/evaluation/extractors/classifiers/.

    python scripts/make_evaluators.py [--check]

One file per embedded labelled set (``SHIPPED_SETS``: digits; stacked-digits classifies each channel with
it), trained by the recipe of ``ganbench.evaluation.extractors.classifier_net`` and named as in a cache
(``<dataset>-<key[:16]>.pt``, the key a SHA-256 over the recipe and the data). Rerun after changing the
recipe or the data: the test suite fails while a shipped file is not of the present key. Files of an older
key are removed. The weights depend on the CPU they were trained on (its vector instruction set), which is
why they ship instead of being trained on each machine; the file records the set used (``cpu_capability``).
The shipped digits file was trained with AVX512 kernels and has the weights the published digits and
stacked-digits reports were scored with (sha256 ``d7c7c109...``); rewriting it on a CPU of another set
changes every digits fingerprint, so retrain on an AVX512 CPU (``--check`` says which set this one has).

--check trains each classifier again here and compares: the same weights on a CPU of the recorded
instruction set, else the difference in held-out accuracy (written, nothing changed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

import torch

from ganbench.caches import clear_caches
from ganbench.data import load_dataset
from ganbench.evaluation.extractors import classifier as clf
from ganbench.runs.files import atomic_write_bytes


def train_here(name: str, cache: str | None = None) -> tuple[clf.ClassifierEvaluator, bytes]:
    """The classifier of dataset ``name`` trained on this machine (or found in ``cache``, a cache folder that
    ``get_classifier(..., shipped=False)`` trained into), and its cache file's bytes."""
    with contextlib.nullcontext(cache) if cache else tempfile.TemporaryDirectory() as folder:
        clear_caches()
        ev = clf.get_classifier(load_dataset(name), cache_dir=folder, shipped=False)
        return ev, Path(ev.cache_file).read_bytes()


def _meta(data: bytes) -> dict:
    return torch.load(io.BytesIO(data), weights_only=True)["meta"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="train again and compare with the shipped files")
    p.add_argument("--dest", default=str(clf.SHIPPED_DIR), help=argparse.SUPPRESS)  # tests write elsewhere
    p.add_argument("--cache", help="a cache folder to train into or take this machine's trained file from "
                                   "(default: a temporary folder, so the classifier is always trained anew)")
    args = p.parse_args(argv)
    dest = Path(args.dest)
    for name in clf.SHIPPED_SETS:
        ev, data = train_here(name, args.cache)
        made_here = _meta(data).get("cpu_capability")
        target = dest / Path(ev.cache_file).name
        if args.check:
            if not target.is_file():
                print(f"{name}: no shipped file {target} for the present recipe and data", file=sys.stderr)
                return 1
            saved = torch.load(target, weights_only=True)
            sha, meta = clf.state_dict_sha256(saved["state_dict"]), saved["meta"]
            same = "the same weights" if sha == ev.weights_sha256 else "other weights"
            print(f"{name}: shipped {sha[:12]} ({meta.get('cpu_capability')} kernels, held-out accuracy "
                  f"{meta['test_accuracy']:.4f}); trained here {ev.weights_sha256[:12]} ({made_here} kernels, "
                  f"{ev.test_accuracy:.4f}): {same}")
            continue
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob(f"{name}-*.pt"):
            if old.name != target.name:
                old.unlink()
        atomic_write_bytes(target, data)
        print(f"{name}: {target} ({len(data):,} bytes), weights sha256 {ev.weights_sha256}, held-out accuracy "
              f"{ev.test_accuracy:.4f}, {made_here} kernels")
    clear_caches()
    return 0


if __name__ == "__main__":
    sys.exit(main())
