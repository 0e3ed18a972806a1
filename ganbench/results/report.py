"""Reports: a runs folder as one self-contained HTML page and a Markdown README with PNG files.

``write_report(runs_dir, out_dir)`` writes into ``out_dir``:

- ``index.html``: every table and figure, images embedded as base64 PNG data URIs, inline CSS,
  no external reference (it can be mailed or archived as one file);
- ``README.md``: the same tables in Markdown, figures as PNG files beside it, linked relatively;
- ``leaderboard.csv``: the full numeric leaderboard (means, standard deviations, 95% Student-t CIs).

Per dataset: the leaderboard with the real-data row and training times, metric curves over training
(mean and min-max band over seeds), mode coverage over training with collapse events, samples,
memorisation (the memorisation metrics, and on image sets generated samples above their nearest
training images), mode histograms, the collapse events and the runs that diverged or failed. A final "Protocol"
section lists every fingerprint's protocol and the command lines and commits that made the runs.
Every file goes through ganbench's atomic writers; ``index.html`` is written last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.data import get_dataset_info, load_dataset
from ganbench.evaluation.curves import (
    LAST_FRACTION,
    MIN_POINTS,
    PLATEAU_ABS_TOL,
    PLATEAU_FRACTION,
    PLATEAU_REL_TOL,
    eval_curves,
)
from ganbench.evaluation.tracking import collapse_events, coverage_series
from ganbench.results.blocks import (
    Block,
    Figure,
    Gallery,
    Heading,
    Link,
    Paragraph,
    Table,
    Toc,
    anchor,
    figures,
    render_html,
    render_markdown,
)
from ganbench.results.leaderboard import (
    REFERENCE_MODEL,
    display_table,
    format_leaderboard,
    human_scores,
    leaderboard,
)
from ganbench.results.memorisation import final_samples, memorisation_blocks
from ganbench.results.plots import (
    coverage_events_figure,
    metric_curves_figure,
    mode_histograms_figure,
    model_colors,
    samples_figure,
    scatter_panels_figure,
)
from ganbench.runs import files
from ganbench.runs.layout import (
    ReferenceDir,
    RunDir,
    iter_reference_scores,
    iter_runs,
    read_optional,
)

__all__ = ["write_report"]

STUCK_FRACTION = 0.5  # a run covering under half of the modes until its end is reported as stuck
DROP_FRACTION = 0.5


@dataclass
class _Run:
    path: Path
    cfg: dict
    result: dict | None
    scores: dict

    @property
    def dataset(self) -> str:
        return self.cfg["dataset"]

    @property
    def model(self) -> str:
        return self.cfg.get("name") or self.cfg["model"]

    @property
    def seed(self) -> int:
        return int(self.cfg["seed"])

    @property
    def dir(self) -> RunDir:
        return RunDir(self.path)

    @property
    def status(self) -> str:
        return (self.result or {}).get("status", "running")


def _scan(runs_dir: Path) -> list[_Run]:
    runs = []
    for d in iter_runs(runs_dir):
        cfg = d.read_config()
        if cfg is not None and "dataset" in cfg and "seed" in cfg:
            runs.append(_Run(d.path, cfg, d.read_result(), d.read_scores()))
    return sorted(runs, key=lambda r: (r.dataset, r.model, r.seed))


# -- the document: typed blocks (ganbench.results.blocks), rendered by its templates -----------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _fig(blocks: list[Block], name: str, png: bytes | None, caption: str) -> None:
    if png:
        blocks.append(Figure(name, png, caption))


def _dataset_blocks(ds: str, runs: list[_Run], board: pd.DataFrame, colors: dict, runs_dir: Path,
                    data_root: str | None = None) -> list[Block]:  # fmt: skip
    info = next((r.cfg["dataset_info"] for r in runs if r.cfg.get("dataset_info")), None) or _info(ds)
    kind, k = info.get("kind"), info.get("num_modes")
    slug = _slug(ds)
    models = sorted({r.model for r in runs})
    by_model = {m: [r for r in runs if r.model == m] for m in models}
    blocks: list[Block] = [Heading(2, f"Dataset {ds}", anchored=True)]
    desc = (info.get("description") or "").rstrip(".")
    blocks.append(Paragraph(f"{desc + '. ' if desc else ''}{len(runs)} runs of {len(models)} models; "
                            f"{k or 'unknown number of'} modes."))  # fmt: skip

    # Leaderboard.
    b = board[board["dataset"] == ds]
    blocks.append(Heading(3, "Leaderboard"))
    blocks.append(Paragraph("↑: higher is better, ↓: lower is better, →0 and →1: the nearer that value (a model "
                            "that generalises), the better. ± is the standard deviation over training seeds (the seeds "
                            "column counts scored runs); 95% confidence intervals of the mean (Student's t over the "
                            "seeds) are in leaderboard.csv. The real-data row scores held-out real data like a model: "
                            "the best value reachable at this sample size. Models are ranked within one protocol, and "
                            "only those trained to a plateau (below): a row marked '—' is not ranked. 'rank range': "
                            "the ranks a row could take given seed noise, from 1 + the rows above it that differ from "
                            "it to the number of ranked rows - the rows below it that differ (Welch's t-test over "
                            "training seeds on the ranked metric, p < 0.05, not corrected for the number of pairs; "
                            "rows with one seed are told apart from none): '1-5' means the data do not separate it "
                            "from ranks 1 to 5."))
    blocks.append(Paragraph(f"The 'last' columns: the mean over the last evaluations during training (the last "
                            f"{LAST_FRACTION:.0%} of the steps, at least {MIN_POINTS}; '(n=k)': a shorter curve, "
                            f"averaged whole), beside the final score. 'plateaued': whether the seed mean of the ranked "
                            f"metric's curves has flattened (the mean of its last {PLATEAU_FRACTION:.0%} of the "
                            f"evaluations within {PLATEAU_REL_TOL:.0%}, at least {PLATEAU_ABS_TOL:g}, of the "
                            f"{PLATEAU_FRACTION:.0%} before); 'no': the row was still improving or getting worse when "
                            "training stopped, so more steps could change the ranking. 'seeds k/n': how many seeds' "
                            "own curves pass the same rule (a single seed's curve is much noisier than the mean). "
                            "'budget', for runs of a reference baseline's own configuration: the learning-curve "
                            "study's verdict on its budget (reports/budgets.md): 'justified', 'borderline' "
                            "(justified by the rule's tolerance, but every seed of the study still improves by 1.5x "
                            "the budget: reports/budgets-seeds.md), or 'longer pays' "
                            "(plateaued by the rule, but training on to 1.5x the budget improves the seed mean by "
                            "more than the rule's tolerance: the row is ranked at its budget, and its value "
                            "understates what the model reaches with more steps)."))
    blocks.append(Table(_board_table(b), "board"))
    fps = [f for f in b["fingerprint"].dropna().unique()]
    if fps:
        blocks.append(Paragraph("Scored under protocol fingerprint",
                                tuple(Link(f, anchor(f"Fingerprint {f}")) for f in fps)))

    blocks += _human_blocks(human_scores(runs_dir).get(ds))

    # Curves over training.
    series = {m: [(r.seed, eval_curves(r.path)) for r in rs] for m, rs in by_model.items()}
    blocks.append(Heading(3, "Metrics during training"))
    _fig(blocks, f"{slug}_curves.png", metric_curves_figure(series, colors, f"{ds}: metrics during training"),
         "Cheap metrics logged during training: mean over seeds (line) and min-max over seeds (band).")

    # Mode coverage and collapse events.
    events = {}
    stuck = STUCK_FRACTION * k if k else None
    for m, rs in by_model.items():
        for r in rs:
            steps, cov = coverage_series(r.path)
            events[(m, r.seed)] = (steps, cov, collapse_events(steps, cov, DROP_FRACTION, stuck))
    if any(len(v[0]) for v in events.values()):
        blocks.append(Heading(3, "Mode coverage and collapse events"))
        _fig(blocks, f"{slug}_coverage.png", coverage_events_figure(events, colors, k, stuck, f"{ds}: modes covered"),
             f"Modes covered over training, one line per seed. A drop event is coverage under "
             f"{1 - DROP_FRACTION:.0%} of its running peak; a run is stuck when it covers fewer than "
             f"{STUCK_FRACTION:.0%} of the modes from that step to its end.")
        rows = [_event_row(m, s, e) for (m, s), (_, _, evs) in events.items() for e in evs]
        blocks.append(Table(pd.DataFrame(rows)) if rows else Paragraph("No collapse event in any run."))

    # Samples.
    blocks.append(Heading(3, "Samples"))
    if kind == "points2d":
        _fig(blocks, f"{slug}_samples.png", _scatter_samples(ds, by_model, colors, data_root),
             "2,500 samples of each model (first completed seed, evaluation seed 0) over the true modes (red x).")
    else:
        gallery = []
        for m, rs in by_model.items():
            r = next((r for r in rs if r.dir.samples.is_file()), None)
            if r is not None:
                gallery.append((f"{slug}_samples_{_slug(m)}.png", r.dir.samples.read_bytes(),
                                f"{m} (seed {r.seed})"))  # fmt: skip
        real = _real_grid(ds, data_root)
        if gallery and real:
            gallery.append((f"{slug}_samples_real-data.png", real, "real data (test split)"))
        blocks.append(Gallery(tuple(Figure(*g) for g in gallery)) if gallery
                      else Paragraph("No samples.png in these runs."))

    blocks += memorisation_blocks(ds, kind, by_model, board, _slug, data_root)

    # Mode histograms.
    hists = _histograms(ds, by_model, fps[0] if fps else None, runs_dir)
    if hists:
        blocks.append(Heading(3, "Mode histograms"))
        sorted_note = " Counts are sorted, largest first, on a log scale." if (k or 0) > 50 else ""
        _fig(blocks, f"{slug}_histograms.png", mode_histograms_figure(hists, colors, k, f"{ds}: mode histograms"),
             "Samples per mode in the final evaluation (first scored seed)"
             + (", high-quality samples only (within 3 sd of a mode)" if kind == "points2d" else "")
             + "; the dashed line is the uniform level a perfect model reaches." + sorted_note)  # fmt: skip

    # Diverged, failed and unfinished runs.
    bad = [r for r in runs if r.status != "complete"]
    blocks.append(Heading(3, "Diverged and failed runs"))
    if bad:
        blocks.append(Table(pd.DataFrame([_bad_row(r) for r in bad])))
    else:
        blocks.append(Paragraph("Every run completed."))
    return blocks


def _human_blocks(res: dict | None) -> list[Block]:
    """The human study's scores (``ganbench human-eval``), when there is one for this dataset."""
    if res is None:
        return []
    fp, rules = res["fingerprint"], res["fingerprint"]["rules"]

    def row(name: str, r: dict) -> dict:
        ci = f"[{r['ci95_low']:.3f}, {r['ci95_high']:.3f}]" if r["judgments"] else ""
        rate = f"{r['rate']:.3f}" if r["judgments"] else ""
        return {"images": name, "judged real": rate, "Wilson 95% CI": ci, "judgments": r["judgments"],
                "HYPE-infinity": f"{r['hype_infinity']:.3f}" if r.get("judgments") and "hype_infinity" in r else ""}

    rows = [row(m, r) for m, r in res["models"].items()] + [row("real (the ceiling)", res["real"])]
    excluded = res["raters_excluded"]
    return [Heading(3, "Human evaluation"),
            Paragraph(f"People judged each image real or generated, one at a time with unlimited time (HYPE-infinity, "
                      f"Zhou et al. 2019). {res['raters']} raters, {res['judgments']} judgments; {len(excluded)} "
                      f"raters excluded ({res['exclusion_rule']}). HYPE-infinity is the error rate over the model's "
                      f"and the real images (0.5: indistinguishable). Study fingerprint {fp['id']}: "
                      f"{rules['n_per_model']} images per model, {rules['n_real']} real, {rules['n_checks']} "
                      f"attention checks, order seed {rules['order_seed']}, evaluation seed {rules['eval_seed']}."),
            Table(pd.DataFrame(rows))]  # fmt: skip


def _info(ds: str) -> dict:
    try:
        return get_dataset_info(ds).to_dict()
    except Exception:  # a dataset this installation does not know: no mode structure
        return {}


def _board_table(b: pd.DataFrame) -> pd.DataFrame:
    t = display_table(b).drop(columns=["dataset"])
    t = t.rename(columns={"n_seeds": "seeds", "n_diverged": "diverged", "n_failed": "failed"})
    t = t.drop(columns=[c for c in ("diverged", "failed") if c in t and (t[c] == 0).all()])  # listed below anyway
    if b["fingerprint"].dropna().nunique() > 1:
        t.insert(1, "protocol", b["fingerprint"].fillna("").to_numpy())
    t["train time (s)"] = [f"{v:.1f}" if not pd.isna(v) else "" for v in b["train_time_s_mean"]]
    return t


def _event_row(model: str, seed: int, e: dict) -> dict:
    if e["kind"] == "drop":
        rec = e["recovered_step"]
        note = f"from a peak of {e['peak']:g} at step {e['peak_step']}; " + (
            f"recovered at step {rec}" if rec is not None else "not recovered")
    else:
        note = f"under {e['threshold']:g} modes until the last evaluation (step {e['last_step']}, {e['last_value']:g})"
    return {"model": model, "seed": seed, "event": e["kind"], "step": e["step"], "modes covered": f"{e['value']:g}",
            "details": note}  # fmt: skip


def _bad_row(r: _Run) -> dict:
    res = r.result or {}
    reason = res.get("reason") or res.get("error") or ("no result.json: running or interrupted" if not r.result else "")
    return {"model": r.model, "seed": r.seed, "status": r.status, "at step": res.get("diverged_at") or res.get("steps")
            or "", "reason": reason}  # fmt: skip


def _scatter_samples(ds: str, by_model: dict, colors: dict, data_root: str | None) -> bytes | None:
    try:
        dataset = load_dataset(ds, data_root=data_root)
    except Exception:  # a dataset that cannot be loaded here: no scatter
        return None
    panels = []
    for m, r, samples in final_samples(by_model, 2500):
        panels.append((f"{m} (seed {r.seed})", samples.numpy(), colors.get(m)))
    idx = np.random.default_rng(0).permutation(len(dataset.test))[:2500]
    panels.append(("real data (test split)", dataset.as_float(dataset.test[idx]).numpy(), None))
    return scatter_panels_figure(panels, dataset.centers, dataset.sd, f"{ds}: samples over the true modes")


def _real_grid(ds: str, data_root: str | None) -> bytes | None:
    try:
        dataset = load_dataset(ds, data_root=data_root)
    except Exception:  # e.g. a real dataset whose files are not on this machine
        return None
    return samples_figure(dataset.as_float(dataset.test[:64]), dataset, "real data")


def _histograms(ds: str, by_model: dict, fp: str | None, runs_dir: Path) -> dict[str, list]:
    out = {}
    for m, rs in by_model.items():
        for r in rs:
            res = r.scores.get(fp) if fp else None
            res = res or next(iter(r.scores.values()), None)
            hist = (res or {}).get("metrics", {}).get("mode_histogram")
            if r.status == "complete" and hist:
                out[f"{m} (seed {r.seed})"] = (m, hist)
                break
    ref = ReferenceDir.of(runs_dir, ds).read_scores()
    res = ref.get(fp) if fp else next(iter(ref.values()), None)
    if out and res and res.get("metrics", {}).get("mode_histogram"):
        out[REFERENCE_MODEL] = (REFERENCE_MODEL, res["metrics"]["mode_histogram"])
    return out


def _memorisation_row(fp: dict) -> list[tuple[str, str]]:
    """Where an image protocol's fd_heldout and fd_gap compared samples (none on 2D sets or without them)."""
    if "memorisation_n" not in fp:
        return []
    space = "pixels" if fp.get("generalisation_features") == "pixels" else "the extractor's features"
    return [("memorisation metrics compare", f"at most {fp['memorisation_n']:,} samples of each input"),
            ("fd_heldout and fd_gap compare", space)]


def _protocol_blocks(runs: list[_Run], runs_dir: Path) -> list[Block]:
    fps: dict[str, dict] = {}
    refs = [read_optional(p) or {} for p in iter_reference_scores(runs_dir)]
    for res_map in [r.scores for r in runs] + refs:
        for fp_id, res in res_map.items():
            fps.setdefault(fp_id, res.get("fingerprint", {}))
    blocks: list[Block] = [Heading(2, "Protocol", anchored=True)]
    blocks.append(Paragraph("Scores are comparable only under the same fingerprint id: it hashes the protocol, "
                            "the extractor's weights, the dataset's definition, the metric versions and the "
                            "library versions below."))
    for fp_id, fp in sorted(fps.items()):
        p, ext, ds = fp.get("protocol", {}), fp.get("extractor") or {}, fp.get("dataset") or {}
        rows = [("dataset", p.get("dataset")), ("extractor", ext.get("name")),
                ("extractor weights sha256", ext.get("weights_sha256") or "none (scored on the points)"),
                ("dataset definition", f"{ds['n_train']} train / {ds['n_test']} test, sha256 {ds['sha256']}"
                 if ds else "not recorded (an older fingerprint)"),
                ("n_fake (generated samples)", p.get("n_fake")), ("n_real (reference samples)", p.get("n_real")),
                ("n_modes (samples for mode counts)", p.get("n_modes")), ("eval seed", p.get("eval_seed")),
                ("reference split", p.get("reference_split")),
                ("real-data row rule", p.get("real_row_rule") or "not recorded (an older fingerprint)"),
                *_memorisation_row(fp),
                ("metric versions", ", ".join(f"{k} v{v}" for k, v in sorted(fp.get("metric_versions", {}).items()))),
                ("library versions", ", ".join(f"{k} {v}" for k, v in sorted(fp.get("versions", {}).items()) if v))]
        blocks += [Heading(3, f"Fingerprint {fp_id}", anchored=True),
                   Table(pd.DataFrame(rows, columns=["field", "value"]).astype(str))]  # fmt: skip
    prov: dict[tuple, list] = {}
    for r in runs:
        env = r.cfg.get("environment") or {}
        dev = env.get("device") or {}
        key = (" ".join(map(str, env.get("command") or [])), env.get("git_commit") or "unknown",
               f"{dev.get('type', '?')} {dev.get('name', '')}".strip())  # fmt: skip
        prov.setdefault(key, []).append(r)
    blocks.append(Heading(3, "Commands, commits and devices"))
    rows = [{"command": c, "git commit": g, "device": d, "runs": len(rs),
             "datasets": ", ".join(sorted({r.dataset for r in rs}))} for (c, g, d), rs in prov.items()]  # fmt: skip
    blocks.append(Table(pd.DataFrame(rows)) if rows else Paragraph("No runs."))
    return blocks


def write_report(runs_dir: str | Path, out_dir: str | Path, data_root: str | None = None) -> Path:
    """Write ``index.html``, ``README.md``, ``leaderboard.csv`` and the figures' PNGs into ``out_dir``.

    Args:
        runs_dir: a runs folder (``RUNS/<dataset>/<name>/seed-<N>/``), as ``ganbench run`` writes it.
        out_dir: the report folder (created if needed; files of an earlier report are replaced).
        data_root: where real datasets' files are (as ``--data-root``), for the real-image grids and the
            nearest training images; a dataset not found there is left out of those figures.

    Returns:
        The path of ``out_dir/index.html``.

    Raises:
        UserError: when ``runs_dir`` does not exist.
    """
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    board = leaderboard(runs_dir)
    runs = _scan(runs_dir)
    colors = model_colors(r.model for r in runs)
    datasets = sorted({r.dataset for r in runs})
    toc = Toc(tuple(Link(t, anchor(t)) for t in [f"Dataset {ds}" for ds in datasets] + ["Protocol"]))
    n_bad = sum(r.status != "complete" for r in runs)
    blocks: list[Block] = [Heading(1, "ganbench report"),
                           Paragraph(f"Runs folder: {runs_dir}. {len(runs)} runs ({n_bad} not complete) on "
                                     f"{len(datasets)} datasets. Full numeric leaderboard: leaderboard.csv."), toc]
    for ds in datasets:
        blocks += _dataset_blocks(ds, [r for r in runs if r.dataset == ds], board, colors, runs_dir, data_root)
    blocks += _protocol_blocks(runs, runs_dir)

    files.atomic_write_text(out_dir / "leaderboard.csv", format_leaderboard(board, "csv"))
    for fig in figures(blocks):
        files.atomic_write_bytes(out_dir / fig.file, fig.png)
    files.atomic_write_text(out_dir / "README.md", render_markdown(blocks))
    index = out_dir / "index.html"
    files.atomic_write_text(index, render_html(blocks, f"ganbench report: {runs_dir.name}"))
    return index
