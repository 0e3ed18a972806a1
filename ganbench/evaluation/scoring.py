"""Scoring: samples -> metrics, each score stored with the protocol fingerprint that made it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ganbench.data import Dataset
from ganbench.environment import flush_denormals
from ganbench.errors import UserError
from ganbench.evaluation.bootstrap import bootstrap_intervals
from ganbench.evaluation.features import ProtocolExtractor, pixels
from ganbench.evaluation.protocol import (
    MAX_FEATURE_N,
    MEMORISATION_INPUTS,
    EvalProtocol,
    at_n_fake,
    extractor_files,
    fingerprint,
    gap_in_pixels,
)
from ganbench.evaluation.samples import check_samples
from ganbench.metrics import (
    PRDC_METRICS,
    GaussianStats,
    MetricContext,
    compute_metrics,
    metric_specs,
    prdc_size,
)
from ganbench.metrics.base import MetricSpec, as_float64
from ganbench.runs import files

# The held-out real samples of the memorisation and generalisation metrics: the dataset's test split.
HELDOUT_TEST = "test"


def image_metrics(fake: torch.Tensor, ext: ProtocolExtractor, fake_modes: torch.Tensor | None, p: EvalProtocol,
                  heldout: str | torch.Tensor | None = HELDOUT_TEST) -> dict:  # fmt: skip
    """The registered image metrics that ``p`` asks for, each input computed once and only when needed.

    ``heldout``: the held-out real samples (``"test"``: the test split; a tensor: these data-space samples;
    ``None``: none, and the metrics that need them are left out)."""
    return compute_metrics(*image_context(fake, ext, fake_modes, p, heldout))


def image_context(fake: torch.Tensor, ext: ProtocolExtractor, fake_modes: torch.Tensor | None, p: EvalProtocol,
                  heldout: str | torch.Tensor | None = HELDOUT_TEST) -> tuple[list[MetricSpec], MetricContext]:  # fmt: skip
    """The specs ``p`` asks for on an image set and the context that computes them (see ``image_metrics``)."""
    specs = metric_specs("image", p.metrics)
    needs = set().union(*(s.inputs for s in specs))
    feats, probs = ext.features_and_probs(fake)
    real_stats, real_feats = ext.real(p) if needs & {"features", "stats"} else (None, None)
    train_feats, heldout_feats, gap_feats = None, None, None
    if needs & MEMORISATION_INPUTS:
        train_p = dataclasses.replace(p, reference_split="train")
        train_feats = at_most(ext.real(train_p)[1], MAX_FEATURE_N, p.eval_seed)
        heldout_feats = _heldout_features(ext, p, heldout) if "heldout" in needs else None
        if heldout_feats is not None and gap_in_pixels(p):
            # fd_heldout and fd_gap on the same samples as pixels (see protocol.generalisation_space)
            train_rows = at_most(np.arange(train_p.n_real), MAX_FEATURE_N, p.eval_seed)
            gap_feats = (pixels(fake[:MAX_FEATURE_N]), ext.real_pixels(train_p, train_rows),
                         _heldout_features(ext, p, heldout, in_pixels=True))  # fmt: skip
    num_modes = ext.dataset.info.num_modes
    ctx = MetricContext(
        p, real_feats=real_feats, fake_feats=feats, real_stats=real_stats,
        fake_stats=GaussianStats().update(feats) if "stats" in needs else None, probs=probs,
        mode_labels=_mode_labels(fake, ext, fake_modes, probs) if "modes" in needs and num_modes else None,
        num_modes=num_modes, gen_feats=feats[:MAX_FEATURE_N], train_feats=train_feats, heldout_feats=heldout_feats,
        gap_feats=gap_feats)  # fmt: skip
    return specs, ctx


def at_most(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``x``, or ``n`` of its rows drawn without replacement by ``seed`` (in random order) when it has more.

    The memorisation metrics compare at most ``MAX_FEATURE_N`` generated, training and held-out samples: their
    nearest-neighbour searches cost generated x training x feature dimension."""
    if len(x) <= n:
        return x
    return x[np.random.default_rng(seed).permutation(len(x))[:n]]


def _heldout_features(ext: ProtocolExtractor, p: EvalProtocol, heldout: str | torch.Tensor | None,
                      in_pixels: bool = False) -> np.ndarray | None:  # fmt: skip
    """The held-out samples' features (or pixels, ``in_pixels``): at most ``MAX_FEATURE_N`` of the test split
    (all of it, in order, when it is smaller), or the samples given."""
    if heldout is None:
        return None
    if isinstance(heldout, str):
        if heldout != HELDOUT_TEST:
            raise UserError(f"held-out samples: {heldout!r} is not a split; use {HELDOUT_TEST!r} or pass samples")
        test_p = dataclasses.replace(p, reference_split="test", n_real=min(len(ext.dataset.test), MAX_FEATURE_N))
        return ext.real_pixels(test_p) if in_pixels else ext.real(test_p)[1]
    samples = check_samples(heldout, ext.dataset.info, "the held-out samples")
    return pixels(samples) if in_pixels else ext.features_and_probs(samples)[0]


def sample_counts(ctx: MetricContext) -> dict:
    """How many samples each input of the requested metrics actually held: ``fake`` (generated samples
    behind the features, probabilities or 2D points), ``real_stats`` (reference samples behind FD's
    statistics), ``real_features`` (behind KID's feature matrix), ``prdc_fake`` and ``prdc_real`` (the
    generated and reference features PRDC compares, ``prdc_size`` of each: ``prdc_n``, or all of the
    smaller set when it is ``None``), ``modes`` (samples in the mode histogram), ``memo_fake``,
    ``memo_train`` and ``memo_heldout`` (the generated, training and held-out samples the memorisation
    and generalisation metrics compare: on image sets at most ``MAX_FEATURE_N`` of each, the training ones
    drawn from the protocol's ``n_real``; on 2D sets the points and the whole splits). Stored with every
    score, so that tests and readers can check them against the fingerprint's protocol."""
    p = ctx.params
    if ctx.points is not None:  # 2D sets: the mode metrics (modes, high quality) are on the points
        counts = {"fake": len(ctx.points), "modes": len(ctx.points)}
    else:
        needs = set().union(*(s.inputs for s in metric_specs("image", p.metrics)))
        counts = {"fake": len(ctx.fake_feats)}
        if "stats" in needs:
            counts["real_stats"] = getattr(ctx.real_stats, "n", None)
        if "features" in needs:
            counts["real_features"] = len(ctx.real_feats)
        if set(PRDC_METRICS) & set(p.metrics):
            m = prdc_size(len(ctx.real_feats), len(ctx.fake_feats), p.prdc_n)
            counts["prdc_fake"] = counts["prdc_real"] = m
        if ctx.mode_labels is not None:
            counts["modes"] = len(ctx.mode_labels)
    if ctx.has("train"):
        counts["memo_fake"], counts["memo_train"] = len(ctx.gen_feats), len(ctx.train_feats)
    if ctx.has("heldout"):
        counts["memo_heldout"] = len(ctx.heldout_feats)
    return counts


def _mode_labels(fake: torch.Tensor, ext: ProtocolExtractor, fake_modes: torch.Tensor | None,
                 probs: np.ndarray) -> np.ndarray:  # fmt: skip
    # When fake_modes starts with fake (as every caller here passes them), its first labels are the
    # argmax of the probabilities already computed, which is what predict returns; only the extra
    # samples need another pass. Any other fake_modes are classified on their own.
    labels = probs.argmax(axis=1)
    if fake_modes is not None:
        head = min(len(fake), len(fake_modes))
        if not torch.equal(torch.as_tensor(fake_modes[:head]), torch.as_tensor(fake[:head])):
            labels = ext.model.predict(fake_modes)
        elif len(fake_modes) > head:
            labels = np.concatenate([labels, ext.model.predict(fake_modes[head:])])
        else:
            labels = labels[:head]
    return labels


def _point_context(fake: torch.Tensor, dataset: Dataset, p: EvalProtocol,
                   heldout: str | torch.Tensor | None = HELDOUT_TEST) -> tuple[list[MetricSpec], MetricContext]:  # fmt: skip
    # On 2D sets the points are their own features and the whole training split is compared (no
    # extractor cost), so a sampler copying any training point is caught.
    specs = metric_specs("points2d", p.metrics)
    needs = set().union(*(s.inputs for s in specs))
    if isinstance(heldout, str) and heldout != HELDOUT_TEST:
        raise UserError(f"held-out samples: {heldout!r} is not a split; use {HELDOUT_TEST!r} or pass samples")
    held = dataset.test_float() if isinstance(heldout, str) else heldout
    ctx = MetricContext(p, points=fake, centers=dataset.centers, sd=dataset.sd, gen_feats=as_float64(fake, "fake"),
                        train_feats=as_float64(dataset.train_float(), "train") if needs & {"train", "heldout"} else None,
                        heldout_feats=as_float64(held, "heldout") if "heldout" in needs and held is not None else None)  # fmt: skip
    return specs, ctx


@flush_denormals()
def score(fake: torch.Tensor, dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None,
          fake_modes: torch.Tensor | None = None, heldout: str | torch.Tensor | None = HELDOUT_TEST,
          bootstrap: int = 0) -> dict:  # fmt: skip
    """Score data-space samples. Returns ``{"metrics", "fingerprint", "extractor_files", "sample_counts"}``:
    ``extractor_files`` names the extractor's files on this machine, which the fingerprint leaves out;
    ``sample_counts`` the samples each metric input held (see ``sample_counts``); ``bootstrap`` resamples
    of the generated samples add ``eval_ci95`` and ``bootstrap_resamples``.

    Args:
        fake: ``protocol.n_fake`` samples (more are cut, fewer are an error).
        dataset: the dataset with its mode structure.
        protocol: the evaluation protocol.
        extractor: a loaded extractor (made from the protocol when omitted).
        fake_modes: ``protocol.n_modes`` samples for the mode histogram (defaults to ``fake``).
        heldout: real samples the model never saw, for the memorisation and generalisation metrics:
            ``"test"`` (the test split), data-space samples, or ``None`` (those metrics are left out).
        bootstrap: when 2 or more, also ``eval_ci95``: each metric's 95% interval from that many bootstrap
            resamples of the generated samples (``ganbench.evaluation.bootstrap``): the evaluation noise.
    """
    fake = check_samples(fake, dataset.info)
    if len(fake) < protocol.n_fake:
        raise UserError(f"need {protocol.n_fake} samples for this protocol, got {len(fake)}: pass more or lower --n")
    fake = fake[: protocol.n_fake]
    ext = extractor or ProtocolExtractor(dataset, protocol)
    if dataset.info.kind == "points2d":
        specs, ctx = _point_context(fake, dataset, protocol, heldout)
    else:
        specs, ctx = image_context(fake, ext, fake_modes, protocol, heldout)
    info = ext.info()
    fp = fingerprint(protocol, info, dataset)
    out = {"metrics": compute_metrics(specs, ctx), "fingerprint": fp, "extractor_files": extractor_files(info),
           "sample_counts": sample_counts(ctx)}  # fmt: skip
    if bootstrap:
        out["eval_ci95"] = bootstrap_intervals(specs, ctx, bootstrap, seed=protocol.eval_seed, values=out["metrics"])
        out["bootstrap_resamples"] = bootstrap
    return out


@flush_denormals()
@torch.no_grad()
def sample_model(model, n: int, eval_seed: int, chunk: int = 5000) -> torch.Tensor:
    """``n`` samples from ``model`` with a generator seeded by ``eval_seed`` (the global RNG is untouched)."""
    g = torch.Generator().manual_seed(eval_seed)
    parts = [model.sample(min(chunk, n - i), generator=g).detach().float().cpu() for i in range(0, n, chunk)]
    return torch.cat(parts)


def score_model(model, dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None,
                bootstrap: int = 0) -> dict:  # fmt: skip
    """Sample a model under the protocol's evaluation seed and score it."""
    n = max(protocol.n_fake, protocol.n_modes)
    try:
        samples = sample_model(model, n, protocol.eval_seed)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"the model's sample() raised {type(e).__name__}: {e}") from None
    samples = check_samples(samples, dataset.info, "the model's samples")
    return score(samples[: protocol.n_fake], dataset, protocol, extractor, fake_modes=samples[: protocol.n_modes],
                 bootstrap=bootstrap)


# -- the real-data row ---------------------------------------------------------------------------

# How the real-data row draws its samples, by the name in a protocol's ``real_row_rule`` (which the
# fingerprint holds). The row is what a model sampling the data distribution scores under the protocol,
# so it must hold exactly the protocol's counts, and no real sample may stand for two draws.
#
# "test-then-train":
# - generated-sample inputs (features, probabilities, 2D points): the first n_fake test samples in an
#   order drawn with seed eval_seed + 1. Never train samples: the train split is the reference they are
#   compared with (FD, KID, PRDC of train against itself are biased towards zero). When the test split
#   holds fewer than n_fake, the row's protocol states the smaller n_fake (and the KID subset size and
#   IS splits that follow from it), so its fingerprint differs from the models' and it is not comparable.
# - mode counts (n_modes samples): the whole test split in that order, then, only when it holds fewer
#   (stacked sets count 26,000 against 5,000 or 10,000 test images), train samples in an order drawn with
#   seed eval_seed + 2 for the rest. Mode counting compares with no reference split, and the train and
#   test stacks are built alike (three digits drawn at random from a class-stratified split), so their
#   union is n_modes draws from one mode distribution. Resampling the test split with replacement is
#   not: each test image would count about five times, keeping the noise of 5,000 draws (stacked-digits'
#   mode KL 0.10 instead of 0.02 at 26,000). n_modes is cut to the two splits' total if it exceeds it.
REAL_ROW_RULES = ("test-then-train",)
HELD_OUT_SEED_OFFSET, MODES_EXTRA_SEED_OFFSET = 1, 2


def reference_protocol(dataset: Dataset, protocol: EvalProtocol) -> EvalProtocol:
    """The protocol the real-data row is scored under, the one place its counts are set: ``protocol`` with
    ``n_fake`` cut to the test split's size, ``n_real`` to the train split's and ``n_modes`` to both
    splits' total, what its rule can draw from ``dataset`` without drawing a sample twice (see
    ``REAL_ROW_RULES``). Where ``n_fake`` or ``n_real`` is cut, the counts bounded by them (KID's subset
    size, PRDC's ``prdc_n``, the IS splits) follow the dataset's rule at the cut counts (``at_n_fake``: the
    protocol ``--n`` with that count gives a model), except those ``protocol`` set apart from that rule
    (``--protocol``), which are kept, cut to the bound. The row's inputs then hold exactly the counts its
    fingerprint states (``sample_counts``)."""
    if protocol.real_row_rule not in REAL_ROW_RULES:
        raise UserError(f"real_row_rule {protocol.real_row_rule!r} is unknown; known: {', '.join(REAL_ROW_RULES)}")
    if protocol.reference_split != "train":
        raise UserError(f"the real-data row scores the test split against the train split; this protocol's "
                        f"reference split is {protocol.reference_split!r}")  # fmt: skip
    p = protocol
    n_fake, n_real = min(p.n_fake, len(dataset.test)), min(p.n_real, len(dataset.train))
    if (n_fake, n_real) != (p.n_fake, p.n_real):
        ruled = at_n_fake(p, dataset, p.n_fake)  # the rule's bounded counts at the protocol's own counts
        bounds = {"kid_subset_size": min(n_fake, n_real), "prdc_n": min(n_fake, n_real), "is_splits": n_fake}
        own = {f: None if getattr(p, f) is None else min(getattr(p, f), bound)
               for f, bound in bounds.items() if getattr(p, f) != getattr(ruled, f)}  # fmt: skip
        p = dataclasses.replace(at_n_fake(dataclasses.replace(p, n_real=n_real), dataset, n_fake), **own)
    # 2D sets count modes on the n_fake points themselves; image sets on n_modes samples of their own.
    n_modes = p.n_fake if dataset.info.kind == "points2d" else min(p.n_modes, len(dataset.test) + len(dataset.train))
    return p if n_modes == p.n_modes else dataclasses.replace(p, n_modes=n_modes)


def reference_samples(dataset: Dataset, protocol: EvalProtocol) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The real-data row's samples under ``protocol`` (already cut by ``reference_protocol``): the
    ``n_fake`` generated-sample stand-ins, the ``n_modes`` mode-count samples and, per input, how many
    came from each split."""
    test = dataset.as_float(dataset.test[_order(len(dataset.test), protocol.eval_seed + HELD_OUT_SEED_OFFSET)])
    fake = test[: protocol.n_fake]
    modes, extra = test[: protocol.n_modes], protocol.n_modes - len(test)
    if extra > 0:
        pick = _order(len(dataset.train), protocol.eval_seed + MODES_EXTRA_SEED_OFFSET)[:extra]
        train = dataset.as_float(dataset.train[pick])
        modes = torch.cat([modes, train])
    sources = {"fake": {"test": len(fake)}, "modes": {"test": min(len(test), protocol.n_modes), "train": max(extra, 0)}}
    if dataset.info.kind == "points2d":  # the mode metrics are on the points (n_modes == n_fake here)
        modes, sources["modes"] = fake, dict(sources["fake"])
    return fake, modes, sources


def _order(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def score_reference(dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None) -> dict:
    """The real-data row under ``protocol`` (see ``REAL_ROW_RULES``): the floor (or ceiling) a model that
    samples the data distribution reaches at the protocol's counts. Its result adds ``sample_sources``
    (per input, the samples drawn from each split) to ``score``'s. Its samples are the held-out split
    itself, so the metrics comparing samples with held-out data (``ct``, ``nn_ratio``, ``fd_heldout``,
    ``fd_gap``) are left out of it; ``authenticity`` compares them with ``memo_train`` training samples."""
    protocol = reference_protocol(dataset, protocol)
    fake, modes, sources = reference_samples(dataset, protocol)
    return {**score(fake, dataset, protocol, extractor, fake_modes=modes, heldout=None), "sample_sources": sources}


def save_score(path: Path, result: dict) -> None:
    """Add ``result`` to a scores file keyed by fingerprint id (atomic rewrite)."""
    scores = files.read_json(path) if path.exists() else {}
    scores[result["fingerprint"]["id"]] = result
    files.atomic_write_json(path, scores)
