"""Standard Inception-v3 features and class probabilities, through torch-fidelity.

torch-fidelity's ``FeatureExtractorInceptionV3`` reproduces the TensorFlow graph behind the
original FID and Inception score (including its bilinear resize to 299x299), so numbers computed
here are comparable with published ones. ganbench only resolves the weights file (explicit path,
torch hub cache, or download), checks it, converts data-space images to the uint8 the extractor
expects, and reads out the 2048-d pool features and the softmax of ``logits_unbiased`` (the
quantity torch-fidelity's Inception score uses).

On the CPU the same module runs about 1.8x faster with each batch norm folded into its convolution
(eval mode: an affine map per channel) and the weights in channels-last layout, which oneDNN's
convolutions prefer. The weights and the graph are torch-fidelity's; outputs differ from the unfolded
module by float32 rounding only (below 1e-6 of the largest value, tested), as they do between
thread counts or machines.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ganbench.data import Dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors.base import ExtractorOptions, ExtractorSpec, WeightsFileEvaluator, register_extractor
from ganbench.runs import files

__all__ = [
    "InceptionEvaluator",
    "WEIGHTS_FILENAME",
    "WEIGHTS_SHA256_PREFIX",
    "WEIGHTS_URL",
    "hub_weights_path",
    "resolve_inception_weights",
    "to_uint8",
    "write_random_weights",
]

WEIGHTS_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
# torch hub names files after the first 8 hex digits of their SHA-256 and checks only those.
WEIGHTS_SHA256_PREFIX = "6726825d"
# Same URL as torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3 (kept literal so that
# error messages need no torch-fidelity import).
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILENAME}"
EXTRACTOR_NAME = "inception-v3-compat"  # torch-fidelity's registry name for this extractor
FEATURE_DIM = 2048
NUM_CLASSES = 1008
_TRUE = {"1", "true", "yes", "on"}


def hub_weights_path() -> Path:
    """Where torch-fidelity (torch hub) caches the weights: ``<hub dir>/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME


def _offline_from_env() -> bool:
    return os.environ.get("GANBENCH_OFFLINE", "").strip().lower() in _TRUE


def _missing_message(dest: Path, why: str) -> str:
    return (
        f"Inception-v3 weights {WEIGHTS_FILENAME} (SHA-256 starting {WEIGHTS_SHA256_PREFIX}) not found and {why}; "
        f"fetch it from {WEIGHTS_URL} and put it at {dest}, or pass --inception-weights PATH"
    )


def _download(dest: Path) -> None:
    """Download the weights to a temporary file next to ``dest`` and move it in whole."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    os.close(fd)
    try:
        # hash_prefix makes torch hub reject a truncated or wrong file.
        torch.hub.download_url_to_file(WEIGHTS_URL, tmp, hash_prefix=WEIGHTS_SHA256_PREFIX, progress=False)
        os.replace(tmp, dest)  # atomic: readers never see a partial file
    except Exception as e:  # noqa: BLE001  URLError, HTTPError, OSError, hash mismatch: all "download failed"
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(_missing_message(dest, f"downloading it failed ({text})")) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def resolve_inception_weights(weights_path: str | os.PathLike | None = None, offline: bool = False) -> Path:
    """Find (or fetch) the Inception-v3 weights file.

    Order: ``weights_path`` if given; else torch-fidelity's torch hub cache; else a download into
    that cache unless ``offline`` (or ``GANBENCH_OFFLINE=1``).

    Raises:
        UserError: the explicit file is missing, or the weights are absent and cannot be downloaded.
    """
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise UserError(
                f"--inception-weights: no file at {path}; pass the path of {WEIGHTS_FILENAME} "
                f"(download it from {WEIGHTS_URL})"
            )
        return path.resolve()
    dest = hub_weights_path()
    if dest.is_file():
        return dest
    if offline or _offline_from_env():
        raise UserError(_missing_message(dest, "downloading is off (offline)"))
    _download(dest)
    return dest


def _read_checked(path: Path) -> str:
    """SHA-256 of the file after checking it loads as a state dict with ``weights_only=True``.

    torch-fidelity loads the file with ``weights_only=False`` (full pickle); checking it first
    under the safe loader means a corrupt or foreign file fails here with a clear message.
    """
    try:
        data = path.read_bytes()
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  any failure means the file is not usable weights
        raise UserError(_corrupt_message(path, f"{type(e).__name__}: {' '.join(str(e).split())[:150]}")) from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(_corrupt_message(path, "not a state dict of tensors"))
    return hashlib.sha256(data).hexdigest()


def _corrupt_message(path: Path, why: str) -> str:
    return (
        f"Inception-v3 weights file {path} is corrupt or not Inception-v3 weights ({why}); "
        f"replace it with {WEIGHTS_FILENAME} from {WEIGHTS_URL}"
    )


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Data-space float ``[-1, 1]`` NCHW -> uint8 ``[0, 255]`` with 3 channels (gray repeated).

    ``round((x + 1) / 2 * 255)`` inverts ``uint8 / 255 * 2 - 1`` exactly, so real images reach
    the extractor with their original pixel values.
    """
    u = ((x.float() + 1) / 2 * 255).round().clamp_(0, 255).to(torch.uint8)
    return u.repeat(1, 3, 1, 1) if u.shape[1] == 1 else u


def write_random_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write an Inception-v3 weights file with random weights, in the real file's format.

    Same keys, shapes and layout as ``weights-inception-2015-12-05-6726825d.pth`` (torch-fidelity's
    architecture, a plain dict of tensors without BatchNorm's ``num_batches_tracked``), with a
    variance-preserving init so that features and logits stay O(1) through the 40 layers. For tests and
    speed benchmarks where the real weights cannot be downloaded; scores from it mean nothing.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class RandomInit(FeatureExtractorInceptionV3):  # keeps its random init when handed an empty dict
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return super().load_state_dict(state_dict, strict=False)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng():
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        torch.manual_seed(seed)
        net = RandomInit(EXTRACTOR_NAME, ["2048"], feature_extractor_weights_path=str(empty))
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    buf = io.BytesIO()
    torch.save(state, buf)

    files.atomic_write_bytes(path, buf.getvalue())
    return path


def _fold_batch_norms(net: torch.nn.Module) -> None:
    """Fold every eval-mode ``bn`` into the ``conv`` before it (torch-fidelity's BasicConv2d blocks)."""
    for m in net.modules():
        conv, bn = getattr(m, "conv", None), getattr(m, "bn", None)
        if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
            m.conv, m.bn = fuse_conv_bn_eval(conv, bn), torch.nn.Identity()


class InceptionEvaluator(WeightsFileEvaluator):
    """torch-fidelity's TF-compatible Inception-v3: 2048-d pool features, 1008-way probabilities.

    Args:
        weights_path: explicit weights file (``--inception-weights PATH``); default: torch
            hub's cache, downloading into it when allowed.
        offline: never download (also set by ``GANBENCH_OFFLINE=1``).
        device: torch device to run on.

    Raises:
        UserError: weights missing and not downloadable, or the file is corrupt.
    """

    name = EXTRACTOR_NAME
    num_classes = NUM_CLASSES
    feature_dim = FEATURE_DIM
    in_channels = (1, 3)
    preprocessing = {
        "input": "uint8 NCHW [0,255]",
        "resize": "torch-fidelity TF-compatible bilinear to 299x299",
        "channels": "gray repeated to RGB",
    }

    def __init__(self, weights_path: str | os.PathLike | None = None, offline: bool = False,
                 device: str | torch.device = "cpu"):
        self.weights_path = resolve_inception_weights(weights_path, offline)
        self.weights_sha256 = _read_checked(self.weights_path)
        self.standard_weights = self.weights_sha256.startswith(WEIGHTS_SHA256_PREFIX)
        if weights_path is None and not self.standard_weights:
            warnings.warn(
                f"{self.weights_path} has SHA-256 {self.weights_sha256[:8]}..., not {WEIGHTS_SHA256_PREFIX}...: "
                "scores will not be comparable with published ones",
                RuntimeWarning,
                stacklevel=2,
            )
        self.device = torch.device(device)
        self.extractor = self._build_extractor().to(self.device).eval()
        if self.device.type == "cpu":
            _fold_batch_norms(self.extractor)
            self.extractor.to(memory_format=torch.channels_last)

    def _build_extractor(self):
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:
            return FeatureExtractorInceptionV3(
                name=EXTRACTOR_NAME,
                features_list=["2048", "logits_unbiased"],
                feature_extractor_weights_path=str(self.weights_path),
            )
        except (RuntimeError, KeyError, ValueError) as e:  # wrong keys or shapes in load_state_dict
            raise UserError(_corrupt_message(self.weights_path, " ".join(str(e).split())[:150])) from None

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.extractor.eval()
        feats, logits = self.extractor(to_uint8(x))
        # torch-fidelity's Inception score takes softmax(logits_unbiased) in float64.
        return feats, logits.double().softmax(1)


def _from_spec(dataset: Dataset, device: str, options: ExtractorOptions) -> InceptionEvaluator:
    return InceptionEvaluator(weights_path=options.weights, offline=options.offline, device=device)


register_extractor(
    ExtractorSpec(
        name="inception",
        kinds=("image",),
        needs_labels=False,
        factory=_from_spec,
        description="torch-fidelity's TF-compatible Inception-v3 (needs its weights file)",
        takes_weights=True,
    )
)
