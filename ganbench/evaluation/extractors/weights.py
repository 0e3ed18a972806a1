"""Published weights files of the pretrained extractors (DINOv2, CLIP): where they are, and whether they are
the published bytes.

The rule is Inception's (``inception.py``): the file given with ``--extractor-weights PATH``; else torch
hub's cache (``<hub dir>/checkpoints/<file name>``, where torch hub and torch-fidelity put it, so a file
they fetched before is reused); else a download into that cache unless offline (``--offline`` or
``GANBENCH_OFFLINE=1``). Nothing else is fetched: the network code ships with ganbench or torch-fidelity.

Every file is hashed (SHA-256) and the hash enters the score's fingerprint. A file found in the cache
under the published name, or just downloaded, must have the published hash (else it is a broken download:
an error). A file given by path may be other weights (random ones in tests, a fine-tuned network): it is
used with a warning, and its fingerprint says ``standard_weights: false``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ganbench.errors import UserError

__all__ = ["WeightsFile", "checked_weights", "file_sha256", "offline_from_env", "resolve_weights"]

WEIGHTS_FLAG = "--extractor-weights"
_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 24  # 16 MiB per read while hashing: a 1.2 GB file is never held in memory for its hash


@dataclass(frozen=True)
class WeightsFile:
    """One published weights file.

    Attributes:
        label: the network, for messages (``DINOv2 ViT-L/14``).
        filename: its name in torch hub's ``checkpoints`` folder.
        url: where it is published.
        sha256: SHA-256 of the published file (64 hex digits).
    """

    label: str
    filename: str
    url: str
    sha256: str

    def __post_init__(self) -> None:
        if len(self.sha256) != 64 or set(self.sha256) - set("0123456789abcdef"):
            raise ValueError(f"{self.label}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")

    def hub_path(self) -> Path:
        """Where torch hub caches it: ``<hub dir>/checkpoints/<filename>``."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename

    def missing(self, dest: Path, why: str) -> str:
        """The one-line error for an absent file: which file, its hash, where to get it and where to put it."""
        return (f"{self.label} weights {self.filename} (SHA-256 {self.sha256}) not found and {why}; fetch it from "
                f"{self.url} and put it at {dest}, or pass {WEIGHTS_FLAG} PATH")  # fmt: skip

    def corrupt(self, path: Path, why: str) -> str:
        """The one-line error for a file that is not this network's weights."""
        return (f"{self.label} weights file {path} is corrupt or not {self.label} weights ({why}); "
                f"replace it with {self.filename} from {self.url}")  # fmt: skip


def offline_from_env() -> bool:
    """``GANBENCH_OFFLINE`` set to 1/true/yes/on."""
    return os.environ.get("GANBENCH_OFFLINE", "").strip().lower() in _TRUE


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _download(spec: WeightsFile, dest: Path) -> None:
    """Download into a temporary file beside ``dest`` (checked against the full SHA-256), then move it in."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    os.close(fd)
    try:
        torch.hub.download_url_to_file(spec.url, tmp, hash_prefix=spec.sha256, progress=False)
        os.replace(tmp, dest)  # atomic: readers never see a partial file
    except Exception as e:  # noqa: BLE001  URLError, HTTPError, OSError, hash mismatch: all "download failed"
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(spec.missing(dest, f"downloading it failed ({text})")) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def resolve_weights(spec: WeightsFile, weights_path: str | os.PathLike | None = None, offline: bool = False) -> Path:
    """The weights file: ``weights_path`` if given, else torch hub's cache, else a download unless offline.

    Raises:
        UserError: the given file does not exist, or the weights are absent and cannot be downloaded.
    """
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise UserError(f"{WEIGHTS_FLAG}: no file at {path}; pass the path of {spec.label}'s {spec.filename} "
                            f"(SHA-256 {spec.sha256}, from {spec.url})")  # fmt: skip
        return path.resolve()
    dest = spec.hub_path()
    if dest.is_file():
        return dest
    if offline or offline_from_env():
        raise UserError(spec.missing(dest, "downloading is off (offline)"))
    _download(spec, dest)
    return dest


def checked_weights(spec: WeightsFile, weights_path: str | os.PathLike | None = None,
                    offline: bool = False) -> tuple[Path, str]:  # fmt: skip
    """``(path, sha256)`` of the weights (see ``resolve_weights``), the hash checked against the published one.

    Called through ``WeightsFileEvaluator._use_weights`` (the warning's stack level points at the caller of
    the evaluator's constructor).

    Raises:
        UserError: as ``resolve_weights``, or the cached file is not the published one.
    """
    path = resolve_weights(spec, weights_path, offline)
    digest = file_sha256(path)
    if digest == spec.sha256:
        return path, digest
    if weights_path is None:
        raise UserError(f"{spec.label} weights {path} have SHA-256 {digest}, not the published {spec.sha256} "
                        f"(a broken or foreign file); delete it and fetch {spec.url} again")  # fmt: skip
    warnings.warn(f"{path} has SHA-256 {digest[:12]}..., not {spec.label}'s published {spec.sha256[:12]}...: "
                  "scores will not be comparable with published ones", RuntimeWarning, stacklevel=4)  # fmt: skip
    return path, digest
