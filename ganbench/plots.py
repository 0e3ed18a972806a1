"""Figures as PNG bytes (matplotlib, Agg backend): sample scatters over the true modes and image grids."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

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
