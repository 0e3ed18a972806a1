"""Figures as PNG bytes (matplotlib, Agg backend): sample scatters over the true modes and image grids."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import warnings

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ganbench.metrics import METRICS

_PNG_METADATA = {"Software": None}  # keeps PNG bytes identical across runs


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata=_PNG_METADATA, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def scatter_over_modes(ax, samples: np.ndarray, centers: np.ndarray | None, sd: float | None, title: str = "") -> None:
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", label="samples", rasterized=True)
    if centers is not None:
        ax.scatter(centers[:, 0], centers[:, 1], s=40, marker="x", color="tab:red", label="true modes")
        span = np.abs(centers).max() + 1.0
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=2)


def image_grid(images: torch.Tensor, nrow: int = 8) -> np.ndarray:
    """NCHW in [-1, 1] -> HWC uint8 grid."""
    # torchvision costs seconds at start-up; only grids need it
    from torchvision.utils import make_grid

    grid = make_grid((images.clamp(-1, 1) + 1) / 2, nrow=nrow, padding=1, pad_value=1.0)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def samples_figure(samples: torch.Tensor, dataset, title: str | None = None) -> bytes:
    """A scatter over the true modes (2D) or an 8-column image grid, as PNG bytes."""
    title = title or dataset.info.name
    if dataset.info.kind == "points2d":
        fig, ax = plt.subplots(figsize=(4, 4))
        scatter_over_modes(ax, samples.numpy(), dataset.centers, dataset.sd, title)
        return figure_png(fig)
    grid = image_grid(samples[:64])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return figure_png(fig)


# -- helpers for multi-run figures (reports) ---------------------------------------------------

# tab10 without red (true modes are drawn in red) and grey (kept for the real data).
_MODEL_PALETTE = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
                  "tab:cyan", "#393b79", "#8c6d31", "#843c39", "#7b4173", "#17becf", "#bcbd22"]  # fmt: skip
REFERENCE_COLOR = "tab:gray"


def model_colors(names) -> dict[str, str]:
    """A fixed colour per name (sorted order), so each model looks the same in every figure."""
    names = sorted(set(names))
    return {n: _MODEL_PALETTE[i % len(_MODEL_PALETTE)] for i, n in enumerate(names)}


def panel_grid(n: int, ncols: int = 4, panel_size: tuple[float, float] = (3.2, 2.6), **kw):
    """A figure with ``n`` panels in rows of at most ``ncols``; unused axes are hidden.

    Returns:
        ``(fig, axes)`` with ``axes`` a flat list of the ``n`` used axes.
    """
    n = max(n, 1)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             squeeze=False, **kw)  # fmt: skip
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def band_plot(ax, steps, mean, low, high, color: str, label: str) -> None:
    """A mean line with markers over a shaded ``[low, high]`` band."""
    ax.fill_between(steps, low, high, color=color, alpha=0.18, linewidth=0)
    ax.plot(steps, mean, color=color, marker="o", markersize=3, linewidth=1.6, label=label)


def _direction(metric: str) -> str:
    info = METRICS.get(metric)
    if info is None:
        return ""
    if info.target is not None:
        return f" (nearer {info.target:g} is better)"
    return " (higher is better)" if info.higher_is_better else " (lower is better)"


def _figure_legend(fig, handles, labels, ncol: int) -> None:
    """One legend under all panels, with room kept for its rows (about 0.21 inch each)."""
    ncol = max(1, min(ncol, 8, len(labels)))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9, frameon=False, bbox_to_anchor=(0.5, 0.0))
    rows = -(-len(labels) // ncol)
    fig.tight_layout(rect=(0, min(0.4, (0.1 + 0.21 * rows) / fig.get_size_inches()[1]), 1, 1))


def metric_curves_figure(series: dict, colors: dict, title: str = "") -> bytes | None:
    """Metrics against training step, one subplot per metric, one mean line and min-max band per model.

    Args:
        series: ``{model: [(seed, {metric: (steps, values)})]}``.
        colors: ``{model: colour}``.
        title: the figure title.

    Returns:
        PNG bytes, or ``None`` when there is nothing to plot.
    """
    present = {m for runs in series.values() for _, s in runs for m in s}
    metrics = [m for m in METRICS if m in present]
    if not metrics:
        return None
    fig, axes = panel_grid(len(metrics), ncols=3, panel_size=(4.4, 3.2))
    for ax, metric in zip(axes, metrics):
        lows, highs = [], []
        for model, runs in series.items():
            per_seed = [s[metric] for _, s in runs if metric in s]
            if not per_seed:
                continue
            steps = np.unique(np.concatenate([np.asarray(st) for st, _ in per_seed]))
            table = np.full((len(per_seed), len(steps)), np.nan)
            for i, (st, v) in enumerate(per_seed):
                table[i, np.searchsorted(steps, st)] = v
            table[~np.isfinite(table)] = np.nan
            with warnings.catch_warnings():  # a step where every seed logged inf/NaN stays a gap
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, lo, hi = np.nanmean(table, 0), np.nanmin(table, 0), np.nanmax(table, 0)
            band_plot(ax, steps, mean, lo, hi, colors.get(model, "tab:blue"), model)
            lows.append(np.nanmin(lo))
            highs.append(np.nanmax(hi))
        if lows and min(lows) > 0 and max(highs) / min(lows) > 100:
            ax.set_yscale("log")  # e.g. Frechet distances falling by orders of magnitude
        ax.set_title(f"{metric}{_direction(metric)}", fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)

    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Patch(color="dimgray", alpha=0.25))
    labels.append("min-max over seeds")
    fig.suptitle(title, fontsize=11)
    _figure_legend(fig, handles, labels, len(labels))
    return figure_png(fig)


def coverage_events_figure(runs: dict, colors: dict, num_modes: int | None, stuck_threshold: float | None,
                           title: str = "") -> bytes | None:  # fmt: skip
    """Modes covered against step, one panel per model, one line per seed, collapse events marked.

    Args:
        runs: ``{(model, seed): (steps, coverage, events)}`` with events from ``tracking.collapse_events``.
        colors: ``{model: colour}``.
        num_modes: drawn as a dotted "all modes" line when known.
        stuck_threshold: drawn as a dashed line when given.
        title: the figure title.
    """
    models = sorted({m for m, _ in runs})
    if not any(len(v[0]) for v in runs.values()):
        return None
    fig, axes = panel_grid(len(models), ncols=4, panel_size=(3.4, 2.7), sharey=True)
    styles = ["-", "--", ":", "-."]
    seeds = sorted({s for _, s in runs})
    for ax, model in zip(axes, models):
        for (m, seed), (steps, cov, events) in sorted(runs.items()):
            if m != model or not len(steps):
                continue
            ls = styles[seeds.index(seed) % len(styles)]
            ax.plot(steps, cov, ls, color=colors.get(model, "tab:blue"), marker=".", markersize=4, linewidth=1.4)
            for e in events:
                if e["kind"] == "drop":
                    ax.plot([e["step"]], [e["value"]], "v", color="tab:red", markersize=9, zorder=5)
                else:  # a red halo along the stuck part of the curve
                    part = np.asarray(steps) >= e["step"]
                    ax.plot(np.asarray(steps)[part], np.asarray(cov)[part], color="tab:red", alpha=0.2,
                            linewidth=6, marker="o", markersize=8, solid_capstyle="round", zorder=1)  # fmt: skip
        if num_modes:
            ax.axhline(num_modes, color="black", linestyle=":", linewidth=1, zorder=0)
        if stuck_threshold is not None:
            ax.axhline(stuck_threshold, color="tab:red", linestyle="--", linewidth=0.8, alpha=0.6)
        ax.set_title(model, fontsize=10, color=colors.get(model, "black"))
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, (num_modes or max(float(np.nanmax(v[1])) for v in runs.values() if len(v[1]))) * 1.08)
    for i, ax in enumerate(axes):
        if i % min(4, len(axes)) == 0:
            ax.set_ylabel("modes covered")
    handles = [Line2D([], [], color="dimgray", linestyle=styles[i % len(styles)]) for i in range(len(seeds))]
    labels = [f"seed {s}" for s in seeds]
    kinds = {e["kind"] for v in runs.values() for e in v[2]}
    if "drop" in kinds:
        handles.append(Line2D([], [], color="tab:red", marker="v", linestyle="none", markersize=8))
        labels.append("drop event")
    if "stuck" in kinds:
        handles.append(Line2D([], [], color="tab:red", alpha=0.2, linewidth=6))
        labels.append("stuck until the end")
    if num_modes:
        handles.append(Line2D([], [], color="black", linestyle=":"))
        labels.append(f"all {num_modes} modes")
    if stuck_threshold is not None:
        handles.append(Line2D([], [], color="tab:red", linestyle="--", alpha=0.6))
        labels.append("stuck threshold")
    fig.suptitle(title, fontsize=11)
    _figure_legend(fig, handles, labels, len(labels) if len(axes) > 2 else 4)
    return figure_png(fig)


def mode_histograms_figure(hists: dict, colors: dict, num_modes: int | None, title: str = "") -> bytes | None:
    """Samples per mode, one panel per entry, with the uniform level dashed; sorted counts over 50 modes.

    Args:
        hists: ``{panel title: (model, counts)}``; ``model`` picks the colour (grey when unknown).
        colors: ``{model: colour}``.
        num_modes: the number of modes (default: the histograms' length).
        title: the figure title.
    """
    if not hists:
        return None
    fig, axes = panel_grid(len(hists), ncols=4, panel_size=(3.4, 2.6))
    for ax, (label, (model, counts)) in zip(axes, hists.items()):
        counts = np.asarray(counts, dtype=np.float64)
        k = num_modes or len(counts)
        color = colors.get(model, REFERENCE_COLOR)
        if k > 50:
            # Sorted counts on a log axis: a collapsed model's few huge modes and the long tail both show.
            srt = np.sort(counts)[::-1]
            ax.fill_between(np.arange(len(srt)), np.maximum(srt, 0.5), 0.5, step="mid", color=color, alpha=0.7,
                            linewidth=0)  # fmt: skip
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.5)
            ax.set_xlabel(f"modes sorted by count ({int((counts > 0).sum())} of {k} hit)")
        else:
            ax.bar(np.arange(len(counts)), counts, color=color, width=0.8)
            ax.set_xlabel("mode")
            ax.set_xticks(np.arange(0, len(counts), 1 if k <= 12 else 5))  # every mode, or every 5th
            ax.tick_params(axis="x", labelsize=8)
        ax.axhline(counts.sum() / k, color="black", linestyle="--", linewidth=1)
        ax.set_title(f"{label}: {int(counts.sum())} samples", fontsize=10)
        ax.set_ylabel("samples")
    fig.suptitle(title, fontsize=11)
    _figure_legend(fig, [Line2D([], [], color="black", linestyle="--")], ["uniform: the same count in every mode"], 1)
    return figure_png(fig)


def scatter_panels_figure(panels: list, centers: np.ndarray | None, sd: float | None, title: str = "") -> bytes | None:
    """2D samples over the true modes, one small panel per ``(title, points, colour)``."""
    if not panels:
        return None

    fig, axes = panel_grid(len(panels), ncols=4, panel_size=(3.0, 3.0))
    for ax, (label, pts, color) in zip(axes, panels):
        scatter_over_modes(ax, np.asarray(pts), centers, sd, label)
        ax.collections[0].set_color(color or REFERENCE_COLOR)
        ax.collections[0].set_zorder(3)  # samples over the mode markers: a tight mode stays visible
        if len(ax.collections) > 1:
            ax.collections[1].set_sizes([30])
        ax.tick_params(labelsize=7)
        ax.get_legend().remove()  # one legend for the figure instead, off the data
    fig.suptitle(title, fontsize=11)
    handles = [Line2D([], [], color="dimgray", marker="o", linestyle="none", markersize=4),
               Line2D([], [], color="tab:red", marker="x", linestyle="none", markersize=7)]  # fmt: skip
    _figure_legend(fig, handles, ["samples (colour: model)", "true modes"], 2)
    return figure_png(fig)


def neighbours_figure(samples: torch.Tensor, neighbours: torch.Tensor, distances: np.ndarray, title: str = "") -> bytes:
    """Generated images (top row) above their nearest training images (bottom row), each pair's distance
    under it, as PNG bytes."""
    n = len(samples)
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.6), squeeze=False)
    for j in range(n):
        for row, img in ((0, samples[j]), (1, neighbours[j])):
            grid = image_grid(img[None], nrow=1)
            axes[row, j].imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray",
                                interpolation="nearest")  # fmt: skip
            axes[row, j].set_axis_off()
        axes[1, j].set_title(f"{distances[j]:.3g}", fontsize=7, y=-0.25)
    axes[0, 0].text(-0.2, 0.5, "generated", transform=axes[0, 0].transAxes, ha="right", va="center", fontsize=7)
    axes[1, 0].text(-0.2, 0.5, "nearest train", transform=axes[1, 0].transAxes, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return figure_png(fig)
