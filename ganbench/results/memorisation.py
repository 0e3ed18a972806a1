"""The report's memorisation section: the memorisation metrics per model and, on image sets, generated
samples beside their nearest training images."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
import torch

from ganbench.data import load_dataset
from ganbench.evaluation.evaluate import load_run_model
from ganbench.evaluation.features import pixels
from ganbench.evaluation.scoring import sample_model
from ganbench.metrics.memorisation import nearest_neighbours
from ganbench.results.blocks import Block, Figure, Heading, Paragraph, Table
from ganbench.results.leaderboard import display_table
from ganbench.results.plots import neighbours_figure

__all__ = ["MEMORISATION_METRICS", "final_samples", "memorisation_blocks", "nearest_training_images"]

MEMORISATION_METRICS = ("authenticity", "ct", "nn_ratio", "fd_heldout", "fd_gap")
N_SHOWN = 8


def nearest_training_images(samples: torch.Tensor, train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The training image nearest to each sample in pixel space (Euclidean), and the distances."""
    dist, idx = nearest_neighbours(pixels(samples), pixels(train))
    return train[torch.as_tensor(idx)], torch.as_tensor(dist)


def memorisation_blocks(ds: str, kind: str | None, by_model: dict, board: pd.DataFrame,
                        file_name: Callable[[str], str], data_root: str | None = None) -> list[Block]:  # fmt: skip
    """The section for dataset ``ds``: ``by_model`` maps a model name to its runs (objects with ``status``,
    ``path``, ``seed``, ``dir`` and ``scores``); ``board`` is the leaderboard; ``file_name(text)`` makes a
    file-name part; ``data_root`` is where a real dataset's files are (for the nearest training images)."""
    b = board[board["dataset"] == ds]
    cols = [m for m in MEMORISATION_METRICS if f"{m}_mean" in b.columns and b[f"{m}_mean"].notna().any()]
    if not cols:
        return []
    blocks: list[Block] = [Heading(3, "Memorisation")]
    blocks.append(Paragraph(
        "Are generated samples copies of training samples? authenticity: fraction of generated samples that are "
        "not copies (0: a sampler returning training data); ct: the data-copying test statistic C_T (about 0 "
        "when generalising, strongly negative when copying, positive when underfitting: the samples are farther "
        "from the training data than held-out data is); nn_ratio: median distance to the nearest training "
        "sample over that of held-out real samples (1 when generalising, 0 for copies, above 1 when "
        "underfitting); fd_gap: Frechet distance to held-out data minus that to as much training data (about 0 "
        "when generalising, positive when closer to the training data). For these three, marked →0 or →1, the "
        "nearer that value the better: a larger ct or nn_ratio is not a better model. The real-data row has no "
        "held-out comparison: its samples are the held-out split."))
    spaces = _memorisation_spaces(by_model, set(b["fingerprint"].dropna()))
    if "pixels" in spaces:
        blocks.append(Paragraph(PIXELS_NOTE))
    if "fd_gap" in cols and "classifier features" in spaces:
        blocks.append(Paragraph(FD_GAP_CLASSIFIER_NOTE))
    table = display_table(b)
    keep = ["model", "n_seeds"] + [c for c in table.columns if c.rsplit(" ", 1)[0] in cols]
    blocks.append(Table(table[keep].rename(columns={"n_seeds": "seeds"}), "board"))
    if kind == "image":
        blocks += _neighbour_figures(ds, by_model, file_name, data_root)
    return blocks


PIXELS_NOTE = (
    "fd_heldout and fd_gap compare pixels here, not the classifier's features: that classifier was trained on this "
    "dataset's training split (for a stacked set, its base set's), so in its features training and unseen images "
    "are not alike, and fd_gap fell as samples got worse (reports/fd-gap-features.md). authenticity, ct and "
    "nn_ratio stay in the classifier's features, where fresh and copied images read as in pixels; in pixels, "
    "blurry samples lie nearer every image than real ones do and would read as copies.")
FD_GAP_CLASSIFIER_NOTE = (
    "Here fd_gap is computed in the features of ganbench's classifier, which was trained on this dataset's "
    "training split (for a stacked set, its base set's): scores made before these metrics moved to pixels. On "
    "digits, in such features it does not tell copies of training images from fresh images, and it falls as the "
    "samples get worse (reports/fd-gap-features.md): do not read it as a memorisation measure here.")


def _memorisation_spaces(by_model: dict, fingerprints: set[str]) -> set[str]:
    """Where fd_gap of ``fingerprints`` (as the runs' scores record them) compared samples: ``"pixels"``
    (``generalisation_features`` in the fingerprint), ``"classifier features"`` (ganbench's classifier, trained
    on the dataset's own training split, in a fingerprint from before that key), or neither (another
    extractor's features, or 2D points)."""
    out = set()
    for runs in by_model.values():
        for r in runs:
            for fp_id, res in (getattr(r, "scores", None) or {}).items():
                fp = res.get("fingerprint") or {}
                if fp_id not in fingerprints or "memorisation_n" not in fp:
                    continue
                if fp.get("generalisation_features") == "pixels":
                    out.add("pixels")
                elif (fp.get("extractor") or {}).get("name", "").startswith("classifier"):
                    out.add("classifier features")
    return out


def final_samples(by_model: dict, n: int) -> Iterator[tuple[str, object, torch.Tensor]]:
    """``(model, run, samples)``: ``n`` samples (evaluation seed 0) of each model's first complete run with a
    checkpoint; a model without one, or whose checkpoint cannot be read, is skipped (not fatal to a report)."""
    for m, rs in by_model.items():
        r = next((r for r in rs if r.status == "complete" and r.dir.checkpoint.is_file()), None)
        if r is None:
            continue
        try:
            model, _ = load_run_model(r.path)
            samples = sample_model(model, n, eval_seed=0)
        except Exception:  # noqa: BLE001 - an unreadable checkpoint is skipped, not fatal to the report
            continue
        yield m, r, samples


def _neighbour_figures(ds: str, by_model: dict, file_name: Callable[[str], str], data_root: str | None) -> list[Block]:
    try:
        dataset = load_dataset(ds, data_root=data_root)
    except Exception:  # a dataset whose files are not on this machine: no images
        return []
    out: list[Block] = []
    for m, r, samples in final_samples(by_model, N_SHOWN):
        samples = samples.clamp(-1, 1)
        neighbours, dist = nearest_training_images(samples, dataset.train_float())
        png = neighbours_figure(samples, neighbours, dist.numpy(), f"{m} (seed {r.seed})")
        out.append(Figure(f"{file_name(ds)}_neighbours_{file_name(m)}.png", png,
                          f"{m}: {N_SHOWN} generated samples (top, evaluation seed 0) and their nearest training "
                          "images in pixel space (bottom), with the Euclidean distance; a distance of 0 is a copy."))
    return out

