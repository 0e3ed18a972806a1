"""DINOv2 features (Oquab et al. 2023), as torch-fidelity's ``dinov2-vit-*-14`` extractors compute them.

torch-fidelity builds the network with ``torch.hub.load("facebookresearch/dinov2", ...)``, which needs the
DINOv2 repository's code from GitHub and cannot take a weights file. ganbench holds the backbone itself
(``DinoV2Backbone``: the repository's ``DinoVisionTransformer`` at inference, as its hub entries build it:
LayerScale, 518x518 position embeddings interpolated bicubically with the 0.1 offset, no registers) and loads
the published state dict into it, so nothing is downloaded when a weights file is given.

Preprocessing is torch-fidelity's ``FeatureExtractorDinoV2.forward``: uint8 RGB, TF1-compatible bilinear
resize to 224x224, ImageNet mean/std; the feature is the class token after the last LayerNorm (the hub
model's output). The tests check both against torch-fidelity running the official code on the same file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.data import Dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors.base import (
    ExtractorOptions,
    ExtractorSpec,
    WeightsFileEvaluator,
    register_extractor,
)
from ganbench.evaluation.extractors.inception import to_uint8
from ganbench.evaluation.extractors.weights import WeightsFile
from ganbench.runs import files

__all__ = ["DINOV2_VARIANTS", "DinoV2Backbone", "DinoV2Evaluator", "DinoV2Variant", "write_random_dinov2_weights"]

INPUT_SIZE = 224  # torch-fidelity's FeatureExtractorDinoV2.INPUT_IMAGE_SIZE
PATCH = 14
PRETRAIN_GRID = 37  # the published position embeddings: 518 / 14 patches a side, plus the class token
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"


@dataclass(frozen=True)
class DinoV2Variant:
    """One published DINOv2 backbone: its shape, torch-fidelity's name for it and its weights file."""

    fidelity_name: str
    dim: int
    depth: int
    heads: int
    weights: WeightsFile


def _variant(size: str, label: str, dim: int, depth: int, heads: int, sha256: str) -> DinoV2Variant:
    stem = f"dinov2_vit{size}14"  # the hub entry; its file and URL as the hub's load_state_dict_from_url
    weights = WeightsFile(f"DINOv2 {label}", f"{stem}_pretrain.pth", f"{_BASE_URL}/{stem}/{stem}_pretrain.pth", sha256)
    return DinoV2Variant(f"dinov2-vit-{size}-14", dim, depth, heads, weights)


# The SHA-256 of each published file (Meta publishes none): as pinned, file by file, by several projects that
# verify their downloads; ViT-L/14's file is 1,217,586,395 bytes and ViT-S/14's 88,283,115.
DINOV2_VARIANTS = {
    "dinov2-vit-s14": _variant("s", "ViT-S/14", 384, 12, 6,
                               "b938bf1bc15cd2ec0feacfe3a1bb553fe8ea9ca46a7e1d8d00217f29aef60cd9"),
    "dinov2-vit-b14": _variant("b", "ViT-B/14", 768, 12, 12,
                               "0b8b82f85de91b424aded121c7e1dcc2b7bc6d0adeea651bf73a13307fad8c73"),
    "dinov2-vit-l14": _variant("l", "ViT-L/14", 1024, 24, 16,
                               "d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428"),
}  # fmt: skip


class _LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(dim, eps=1e-6), _Attention(dim, heads), _LayerScale(dim)
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(dim, eps=1e-6), _Mlp(dim), _LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH, stride=PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoV2Backbone(nn.Module):
    """DINOv2's ViT at inference; parameter names and shapes are the published state dict's.

    ``forward`` maps normalised NCHW images (sides multiples of 14) to the final-LayerNorm class token.
    """

    def __init__(self, dim: int, depth: int, heads: int):
        super().__init__()
        self.patch_embed = _PatchEmbed(dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, PRETRAIN_GRID**2 + 1, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # training-only (masked patches); in the file
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """Position embeddings for an ``h`` x ``w`` patch grid: the 37x37 grid resized bicubically.

        As DINOv2 does it: by a scale factor of (side + 0.1) / 37 rather than to the side (a kludge kept for
        compatibility with the trained weights), without antialiasing, in float32.
        """
        pos = self.pos_embed.float()
        if h == w == PRETRAIN_GRID:
            return pos
        grid = pos[:, 1:].reshape(1, PRETRAIN_GRID, PRETRAIN_GRID, -1).permute(0, 3, 1, 2)
        scale = ((h + 0.1) / PRETRAIN_GRID, (w + 0.1) / PRETRAIN_GRID)
        grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
        if grid.shape[-2:] != (h, w):
            raise AssertionError(f"position grid {tuple(grid.shape[-2:])} for {h}x{w} patches")
        return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        tokens = tokens + self.position_embedding(h, w).to(tokens.dtype)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


def preprocess(u: torch.Tensor) -> torch.Tensor:
    """uint8 RGB NCHW -> the network's input, as torch-fidelity's ``FeatureExtractorDinoV2.forward``."""
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    x = interpolate_bilinear_2d_like_tensorflow1x(u.float(), size=(INPUT_SIZE, INPUT_SIZE), align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1) * 255
    return (x - mean) / std


def _shapes(variant: DinoV2Variant) -> dict[str, tuple[int, ...]]:
    """The published state dict's keys and shapes (built on the meta device: nothing allocated)."""
    with torch.device("meta"):
        net = DinoV2Backbone(variant.dim, variant.depth, variant.heads)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _load_state(variant: DinoV2Variant, path) -> dict:
    spec = variant.weights
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  any failure means the file is not usable weights
        raise UserError(spec.corrupt(path, f"{type(e).__name__}: {' '.join(str(e).split())[:150]}")) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(spec.corrupt(path, "not a state dict of tensors"))
    expected = _shapes(variant)
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    if missing or extra or wrong:
        first = (missing and f"missing {missing[0]}") or (extra and f"unexpected {extra[0]}") or \
            f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, not {expected[wrong[0]]}"
        raise UserError(spec.corrupt(path, f"{len(missing)} keys missing, {len(extra)} unexpected, "
                                           f"{len(wrong)} of another shape; {first}"))  # fmt: skip
    return state


class DinoV2Evaluator(WeightsFileEvaluator):
    """A DINOv2 backbone's class-token features (no classifier head: no probabilities).

    Args:
        variant: a key of ``DINOV2_VARIANTS``.
        weights_path: the weights file (``--extractor-weights``); default: torch hub's cache, downloading
            into it when allowed.
        offline: never download (also set by ``GANBENCH_OFFLINE=1``).
        device: torch device to run on.

    Raises:
        UserError: weights missing and not downloadable, not the published file in the cache, or not
            this variant's weights.
    """

    num_classes = None
    in_channels = (1, 3)

    def __init__(self, variant: str, weights_path: str | os.PathLike | None = None, offline: bool = False,
                 device: str | torch.device = "cpu"):  # fmt: skip
        self.variant = DINOV2_VARIANTS[variant]
        self.name, self.feature_dim = self.variant.fidelity_name, self.variant.dim
        self._use_weights(self.variant.weights, weights_path, offline)
        self.preprocessing = {
            "input": "uint8 NCHW [0,255]",
            "resize": f"torch-fidelity TF-compatible bilinear to {INPUT_SIZE}x{INPUT_SIZE}",
            "normalise": "ImageNet mean and std",
            "channels": "gray repeated to RGB",
            "feature": "class token after the final LayerNorm",
        }
        with torch.device("meta"):  # no random init of up to 300M parameters: the file's tensors replace them
            net = DinoV2Backbone(self.variant.dim, self.variant.depth, self.variant.heads)
        net.load_state_dict(_load_state(self.variant, self.weights_path), assign=True)
        net.float()
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.net.eval()
        feats = self.net(preprocess(to_uint8(x)))
        return feats, feats.new_zeros(len(feats), 0)


def write_random_dinov2_weights(path: str | os.PathLike, variant: str, seed: int = 0) -> Path:
    """Write random weights for ``variant`` in the published file's format (a ``torch.save``d state dict).

    Every tensor is random, LayerNorm and LayerScale ones included, so that a parameter read from the wrong
    key changes the features; linear weights have std 0.02 (DINOv2's init) so the features stay O(1).
    For tests and timing where the real file cannot be fetched; scores from it mean nothing.
    """
    v = DINOV2_VARIANTS[variant]
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in _shapes(v).items():
        noise = torch.randn(shape, generator=gen)
        if key.endswith(("norm1.weight", "norm2.weight", "norm.weight", ".gamma")):
            state[key] = 1 + 0.1 * noise
        elif key.endswith("proj.weight") and key.startswith("patch_embed"):
            state[key] = noise / math.sqrt(3 * PATCH * PATCH)
        else:
            state[key] = 0.02 * noise
    files.atomic_write_with(path, lambda f: torch.save(state, f))
    return Path(path)


def _factory(name: str):
    def build(dataset: Dataset, device: str, options: ExtractorOptions) -> DinoV2Evaluator:
        return DinoV2Evaluator(name, options.weights, options.offline, device)

    return build


for _name, _v in DINOV2_VARIANTS.items():
    register_extractor(ExtractorSpec(
        name=_name, kinds=("image",), needs_labels=False, factory=_factory(_name), has_classes=False,
        takes_weights=True,
        description=f"{_v.weights.label} class-token features (torch-fidelity's {_v.fidelity_name}; "
                    f"needs {_v.weights.filename})"))  # fmt: skip
