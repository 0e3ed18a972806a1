"""CLIP image embeddings (Radford et al. 2021), through torch-fidelity's ``clip-vit-*`` extractors.

torch-fidelity vendors OpenAI's image tower and reads OpenAI's published TorchScript files (fp16 weights of
the whole model, text tower included; it keeps the image tower, in float32). ganbench resolves and checks
the file (``weights.py``), checks that it holds the variant's architecture, converts data-space images to
the uint8 torch-fidelity expects, and reads out its ``clip`` feature: the projected image embedding (not
normalised) after a TF1-compatible bilinear resize to 224x224 and CLIP's mean/std.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
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

__all__ = ["CLIP_VARIANTS", "ClipEvaluator", "ClipVariant", "write_random_clip_weights"]

_BASE_URL = "https://openaipublic.azureedge.net/clip/models"
CONTEXT_LENGTH, VOCAB_SIZE, TEXT_LAYERS = 77, 49408, 12  # OpenAI's text tower (in the file, unused here)


@dataclass(frozen=True)
class ClipVariant:
    """One of OpenAI's CLIP ViTs: torch-fidelity's name, the image tower's shape and the weights file.

    ``embed_dim`` is the feature dimension (the shared image-text embedding); the text tower is
    ``embed_dim`` wide with ``embed_dim / 64`` heads.
    """

    fidelity_name: str
    embed_dim: int
    resolution: int
    patch: int
    width: int
    layers: int
    weights: WeightsFile

    @property
    def heads(self) -> int:
        return self.width // 64


def _variant(name: str, label: str, file: str, sha256: str, *shape: int) -> ClipVariant:
    # File name and URL as torch-fidelity's load_state_dict_from_url (feature_extractor_clip.MODEL_URLS).
    weights = WeightsFile(f"CLIP {label}", f"{name}-{sha256}.pt", f"{_BASE_URL}/{sha256}/{file}.pt", sha256)
    return ClipVariant(name, *shape, weights)


# OpenAI names each file after its SHA-256 (torch-fidelity's MODEL_METADATA; the tests check they agree).
CLIP_VARIANTS = {
    "clip-vit-b32": _variant("clip-vit-b-32", "ViT-B/32", "ViT-B-32",
                             "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
                             512, 224, 32, 768, 12),
    "clip-vit-l14": _variant("clip-vit-l-14", "ViT-L/14", "ViT-L-14",
                             "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
                             768, 224, 14, 1024, 24),
}  # fmt: skip


def _build(variant: ClipVariant, path) -> nn.Module:
    """torch-fidelity's extractor on ``path``; a file that is not this variant's weights is a ``UserError``."""
    from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP

    spec = variant.weights
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit's deprecation notice
            net = FeatureExtractorCLIP(variant.fidelity_name, ["clip"], feature_extractor_weights_path=str(path))
    except Exception as e:  # noqa: BLE001  not TorchScript, missing keys, wrong shapes: all "not CLIP weights"
        raise UserError(spec.corrupt(path, f"{type(e).__name__}: {' '.join(str(e).split())[:150]}")) from None
    v = net.model.visual
    got = (getattr(v, "output_dim", None), getattr(v, "input_resolution", None), *_tower(v))
    want = (variant.embed_dim, variant.resolution, variant.patch, variant.width, variant.layers)
    if got != want:
        names = "embedding, resolution, patch, width, layers"
        raise UserError(spec.corrupt(path, f"its image tower has ({names}) = {got}, not {want}"))
    return net


def _tower(visual: nn.Module) -> tuple:
    conv, blocks = getattr(visual, "conv1", None), getattr(getattr(visual, "transformer", None), "resblocks", None)
    if conv is None or blocks is None:  # a ResNet image tower
        return (None, None, None)
    return conv.kernel_size[0], conv.out_channels, len(blocks)


class ClipEvaluator(WeightsFileEvaluator):
    """A CLIP image tower's embeddings through torch-fidelity (no probabilities: CLIP has no classifier here).

    Args:
        variant: a key of ``CLIP_VARIANTS``.
        weights_path: OpenAI's TorchScript file (``--extractor-weights``); default: torch hub's cache,
            downloading into it when allowed.
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
        self.variant = CLIP_VARIANTS[variant]
        self.name, self.feature_dim = self.variant.fidelity_name, self.variant.embed_dim
        self._use_weights(self.variant.weights, weights_path, offline)
        self.preprocessing = {
            "input": "uint8 NCHW [0,255]",
            "resize": f"torch-fidelity TF-compatible bilinear to {self.variant.resolution}x{self.variant.resolution}",
            "normalise": "CLIP mean and std",
            "channels": "gray repeated to RGB",
            "weights": "fp16 in the file, run in float32",
            "feature": "projected image embedding, not normalised",
        }
        self.device = torch.device(device)
        self.extractor = _build(self.variant, self.weights_path).to(self.device).eval()

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.extractor.eval()
        (feats,) = self.extractor(to_uint8(x))
        return feats, feats.new_zeros(len(feats), 0)


def _clip_shapes(v: ClipVariant) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Keys, shapes and dtypes of OpenAI's TorchScript state dict for ``v``: conv, linear and attention
    weights and the two projections in float16 (OpenAI's ``convert_weights``), the rest in float32."""
    from torch_fidelity.feature_extractor_clip import Transformer, VisionTransformer

    with torch.device("meta"):
        towers = {"visual": VisionTransformer(v.resolution, v.patch, v.width, v.layers, v.heads, v.embed_dim),
                  "transformer": Transformer(v.embed_dim, TEXT_LAYERS, v.embed_dim // 64)}  # fmt: skip
    shapes = {f"{tower}.{k}": tuple(t.shape) for tower, m in towers.items() for k, t in m.state_dict().items()}
    shapes.update({"token_embedding.weight": (VOCAB_SIZE, v.embed_dim), "positional_embedding": (CONTEXT_LENGTH,
                   v.embed_dim), "ln_final.weight": (v.embed_dim,), "ln_final.bias": (v.embed_dim,),
                   "text_projection": (v.embed_dim, v.embed_dim), "logit_scale": ()})  # fmt: skip
    half = ("conv1.weight", "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias", "c_fc.weight",
            "c_fc.bias", "c_proj.weight", "c_proj.bias", "visual.proj", "text_projection")  # fmt: skip
    return {k: (s, torch.float16 if k.endswith(half) else torch.float32) for k, s in shapes.items()}


def write_random_clip_weights(path: str | os.PathLike, variant: str, seed: int = 0) -> Path:
    """Write random weights for ``variant`` in OpenAI's file format: a TorchScript archive of the whole CLIP
    model (image and text towers, OpenAI's key names, shapes and dtypes, and its ``input_resolution``,
    ``context_length`` and ``vocab_size``). Its code is a stub: torch-fidelity reads only the state dict.

    Every tensor is random (LayerNorms included) so that a parameter read from the wrong key changes the
    features; weights have std ``fan_in ** -0.5``. For tests and timing; scores from it mean nothing.
    """
    v = CLIP_VARIANTS[variant]
    gen = torch.Generator().manual_seed(seed)
    root = nn.Module()
    for key, (shape, dtype) in _clip_shapes(v).items():
        noise = torch.randn(shape, generator=gen)
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
            value = 1 + 0.1 * noise
        elif len(shape) >= 2:
            value = noise * (shape[0] if key.endswith(("proj", "projection")) else math.prod(shape[1:])) ** -0.5
        else:
            value = 0.1 * noise
        _put(root, key, nn.Parameter(value.to(dtype), requires_grad=False))
    for key, value in (("input_resolution", v.resolution), ("context_length", CONTEXT_LENGTH),
                       ("vocab_size", VOCAB_SIZE)):  # fmt: skip
        _put(root, key, torch.tensor(value))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit's deprecation notice
        scripted = torch.jit.script(root)
        files.atomic_write_with(path, lambda f: torch.jit.save(scripted, f))
    return Path(path)


def _put(root: nn.Module, key: str, value: torch.Tensor) -> None:
    *parents, leaf = key.split(".")
    module = root
    for name in parents:
        if not hasattr(module, name):
            module.add_module(name, nn.Module())
        module = getattr(module, name)
    if isinstance(value, nn.Parameter):
        module.register_parameter(leaf, value)
    else:
        module.register_buffer(leaf, value)


def _factory(name: str):
    def build(dataset: Dataset, device: str, options: ExtractorOptions) -> ClipEvaluator:
        return ClipEvaluator(name, options.weights, options.offline, device)

    return build


for _name, _v in CLIP_VARIANTS.items():
    register_extractor(ExtractorSpec(
        name=_name, kinds=("image",), needs_labels=False, factory=_factory(_name), has_classes=False,
        takes_weights=True,
        description=f"OpenAI {_v.weights.label} image embeddings (torch-fidelity's {_v.fidelity_name}; "
                    "needs OpenAI's weights file)"))  # fmt: skip
