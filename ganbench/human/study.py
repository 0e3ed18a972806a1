"""Preparing a human study: generated images from each run's final model, real held-out images and
attention checks, written as upscaled PNGs beside a ``study.json`` that records the items, the order
seed, the counts, the exposure rules and their fingerprint.

Rules (recorded in ``study.json``, shown by ``--score``, the leaderboard and the report):

- generated: ``n_per_model`` images per model, spread over its completed runs (seeds) in turn, the first
  samples of each run's final model under the evaluation seed (as ``ganbench eval`` samples it);
- real: ``n_real`` images of the dataset's test split (held out from training), a permutation seeded
  by the order seed;
- attention checks: ``n_checks`` images of uniform noise, which any attentive rater calls generated;
  a rater who calls more than ``max_failed_checks`` of them real is excluded, with all their judgments;
- order: every rater sees every item once, in their own random order (a permutation seeded by the
  order seed and the rater's id), one at a time, with unlimited time and no feedback (HYPE-infinity).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import secrets
import struct
import zlib

import numpy as np

from ganbench.data import get_dataset_info, load_dataset
from ganbench.environment import resolve_device
from ganbench.errors import UserError
from ganbench.evaluation.evaluate import load_run_model
from ganbench.evaluation.samples import check_samples
from ganbench.evaluation.scoring import sample_model
from ganbench.human.scoring import CHECK, GENERATED, REAL, exclusion_rule
from ganbench.runs import files
from ganbench.runs.layout import StudyDir, iter_runs

STUDY_VERSION = 1
MIN_PNG_PX = 320  # images are upscaled on the server by an integer factor to at least this size, and the
# page shows them at exactly that size (no further, uneven scaling; CSS keeps any browser zoom pixelated)
DEFAULTS = {"n_per_model": 50, "n_checks": 4, "max_failed_checks": 1, "order_seed": 0, "eval_seed": 0}


def png_bytes(image: np.ndarray) -> bytes:
    """A PNG (8-bit grey or RGB, no filter, zlib level 9) of a uint8 ``(H, W)`` or ``(H, W, 3)`` array."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected uint8 (H, W) or (H, W, 3); got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    colour = 2 if image.ndim == 3 else 0
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def upscale_factor(h: int, w: int) -> int:
    return max(1, -(-MIN_PNG_PX // max(h, w)))


def to_uint8(images) -> np.ndarray:
    """Data-space images (N, C, H, W) in [-1, 1] -> uint8 (N, H, W) for one channel, (N, H, W, 3) for three."""
    x = np.asarray(images, dtype=np.float32)
    x = np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)


def item_png(image: np.ndarray) -> bytes:
    """The PNG a rater sees: ``image`` (uint8) upscaled by an integer factor, each pixel a square block."""
    f = upscale_factor(*image.shape[:2])
    return png_bytes(np.repeat(np.repeat(image, f, axis=0), f, axis=1))


def study_fingerprint(study: dict) -> dict:
    """What makes two studies comparable: dataset, each item's kind, source and image hash (in order),
    the counts, order seed, exposure and exclusion rules. Item ids (random) and dates are left out."""
    items = [{k: it.get(k) for k in ("kind", "model", "seed", "index", "sha256")} for it in study["items"]]
    body = {"version": STUDY_VERSION, "dataset": study["dataset"], "items": items, "rules": study["rules"]}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {"id": digest[:12], "sha256": digest, "version": STUDY_VERSION, "dataset": study["dataset"],
            "rules": study["rules"], "n_items": len(items)}  # fmt: skip


def _image_runs(runs_dir, dataset: str | None) -> tuple[str, dict[str, list]]:
    """The dataset to study and its completed runs by model name."""
    by_ds: dict[str, dict[str, list]] = {}
    for run in iter_runs(runs_dir):
        cfg, res = run.read_config(), run.read_result() or {}
        if cfg and res.get("status") == "complete" and run.checkpoint.is_file():
            by_ds.setdefault(cfg["dataset"], {}).setdefault(cfg.get("name") or cfg["model"], []).append((cfg, run))
    if not by_ds:
        raise UserError(f"{runs_dir} holds no completed run to study")
    if dataset is None:
        images = [d for d in by_ds if _kind(d, by_ds[d]) == "image"]
        if len(images) != 1:
            raise UserError(f"{runs_dir} has runs on {', '.join(sorted(by_ds))}: pass --dataset with "
                            f"{'one image dataset' if images else 'an image dataset'} "
                            f"(2D point sets are out of scope)")  # fmt: skip
        dataset = images[0]
    if dataset not in by_ds:
        raise UserError(f"no completed run on {dataset!r} in {runs_dir}; datasets there: {', '.join(sorted(by_ds))}")
    if _kind(dataset, by_ds[dataset]) != "image":
        raise UserError(f"{dataset} is a 2D point set; human evaluation shows images only")
    return dataset, by_ds[dataset]


def _kind(dataset: str, models: dict[str, list]) -> str:
    cfg = next(iter(models.values()))[0][0]
    return (cfg.get("dataset_info") or get_dataset_info(dataset).to_dict()).get("kind", "image")


def _settings(given: dict) -> dict:
    return {k: (v if v is not None else DEFAULTS.get(k)) for k, v in given.items()}


def prepare_study(runs_dir, dataset: str | None = None, models: list[str] | None = None,
                  n_per_model: int | None = None, n_real: int | None = None, n_checks: int | None = None,
                  max_failed_checks: int | None = None, order_seed: int | None = None, eval_seed: int | None = None,
                  device: str = "cpu", data_root: str | None = None) -> StudyDir:  # fmt: skip
    """Prepare (or reopen) the human study of ``dataset``'s runs in ``runs_dir``; options left None keep an
    existing study's values (or take ``DEFAULTS``; ``n_real`` defaults to ``n_per_model``).

    Raises:
        UserError: no image runs, a 2D set, an unknown model, too few test images, or an existing study
            whose settings differ from the options given.
    """
    sdir = StudyDir.of(runs_dir, dataset) if dataset else None
    old = sdir.read_study() if sdir else None  # a study goes on even when its runs have moved away
    if old is None:
        dataset, runs = _image_runs(runs_dir, dataset)
        sdir = StudyDir.of(runs_dir, dataset)
        old = sdir.read_study()
    given = {"models": sorted(models) if models else None, "n_per_model": n_per_model, "n_real": n_real,
             "n_checks": n_checks, "max_failed_checks": max_failed_checks, "order_seed": order_seed,
             "eval_seed": eval_seed}  # fmt: skip
    if old is not None:
        had = {**old["rules"], "models": sorted({it["model"] for it in old["items"] if it["kind"] == GENERATED})}
        differ = [f"{k}={had.get(k)}" for k, v in given.items() if v is not None and v != had.get(k)]
        if differ:
            raise UserError(f"a study with {', '.join(differ)} is already in {sdir.path}; leave those options out "
                            "to continue it, or move it away to start another")  # fmt: skip
        return sdir
    s = _settings(given)
    s["n_real"] = s["n_real"] or s["n_per_model"]
    chosen = s["models"] or sorted(runs)
    for m in chosen:
        if m not in runs:
            close = difflib.get_close_matches(m, list(runs), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; models there: {', '.join(sorted(runs))}"
            raise UserError(f"no completed {m!r} run on {dataset}{hint}")
    data = load_dataset(dataset, data_root=data_root)
    if s["n_real"] > len(data.test):
        raise UserError(f"--n-real {s['n_real']} is more than the {len(data.test)} held-out images of {dataset}")
    dev = str(resolve_device(device))
    rules = {"order_seed": s["order_seed"], "eval_seed": s["eval_seed"], "n_per_model": s["n_per_model"],
             "n_real": s["n_real"], "n_checks": s["n_checks"], "max_failed_checks": s["max_failed_checks"],
             "exclusion": exclusion_rule(s["max_failed_checks"]), "exposure": "unlimited time (HYPE-infinity), "
             "one image at a time, each item once per rater in the rater's own seeded order, no feedback",
             "upscale": upscale_factor(*data.info.shape[1:]),
             "display_px": upscale_factor(*data.info.shape[1:]) * max(data.info.shape[1:])}  # fmt: skip
    items: list[tuple[dict, np.ndarray]] = []
    for m in chosen:
        model_runs = sorted(runs[m], key=lambda cr: cr[0]["seed"])
        counts = [s["n_per_model"] // len(model_runs) + (i < s["n_per_model"] % len(model_runs))
                  for i in range(len(model_runs))]  # fmt: skip
        for (cfg, run), k in zip(model_runs, counts):
            if k:
                model, _ = load_run_model(run.path, dev)
                x = check_samples(sample_model(model, k, s["eval_seed"]), data.info, f"{run.path}'s samples")
                for i, img in enumerate(to_uint8(x.numpy())):
                    items.append(({"kind": GENERATED, "model": m, "seed": cfg["seed"], "index": i}, img))
    perm = np.random.default_rng(s["order_seed"]).permutation(len(data.test))[: s["n_real"]]
    for i, img in zip(perm.tolist(), to_uint8(data.as_float(data.test[perm]).numpy())):
        items.append(({"kind": REAL, "model": None, "seed": None, "index": i}, img))
    noise = np.random.default_rng([s["order_seed"], 1])
    shape = items[-1][1].shape if items else tuple(data.info.shape[1:])
    for i in range(s["n_checks"]):
        items.append(({"kind": CHECK, "model": None, "seed": None, "index": i},
                      noise.integers(0, 256, size=shape, dtype=np.uint8)))  # fmt: skip
    for stale in sdir.images.glob("*.png"):  # an earlier preparation killed before its study.json
        stale.unlink()
    ids = set()
    study_items = []
    for meta, img in items:
        item_id = secrets.token_hex(6)
        while item_id in ids:
            item_id = secrets.token_hex(6)
        ids.add(item_id)
        png = item_png(img)
        files.atomic_write_bytes(sdir.image(item_id), png)
        study_items.append({"id": item_id, **meta, "sha256": hashlib.sha256(png).hexdigest()})
    study = {"dataset": dataset, "rules": rules, "items": study_items}
    study["fingerprint"] = study_fingerprint(study)
    files.atomic_write_json(sdir.study, study)  # last: a study.json means every image is in place
    return sdir
