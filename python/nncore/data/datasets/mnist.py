"""MNIST handwritten digits from IDX files: found locally, downloaded, or the packaged sample.

Where the files come from, first hit wins (a directory counts when it holds both files of the
split, each either gzipped ``<name>.gz`` or raw ``<name>``):

1. ``root``, when given;
2. ``$NNCORE_DATA``, when set;
3. the cache, ``~/.cache/nncore/mnist`` (``CACHE_DIR``);
4. a download from ``MIRRORS`` into the cache (unless ``download=False``);
5. the sample shipped in the package: the real 10k **test** split, used for either split.

Downloads are checked against ``SHA256``: sums of the *decompressed* IDX payloads, since mirrors
re-gzip the same bytes differently (their ``.gz`` files differ, the payloads do not). A file is
written to a temporary name in the cache and moved into place with ``os.replace`` only once its
sum matches, so an interrupted or corrupt download never leaves a partial file. A checksum
mismatch raises; an unreachable mirror moves on to the next one, then to the sample.
``CACHE_DIR``, ``MIRRORS``, ``SHA256`` and ``SAMPLE_DIR`` are module attributes so tests can
point them elsewhere.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from nncore.utils.data.dataset import TensorDataset

logger = logging.getLogger("nncore.data")

CACHE_DIR = Path("~/.cache/nncore/mnist")
SAMPLE_DIR = Path(__file__).resolve().parent / "mnist_sample"
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
TIMEOUT = 30.0  # seconds per connection attempt

# (images, labels) file names of each split, as on every mirror (without ".gz").
FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# SHA-256 of the decompressed files (the payload is identical on every mirror).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801


def _decompress(raw: bytes, source: str) -> bytes:
    """The payload of ``raw``: gunzipped when it starts with the gzip magic, else as is."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"MNIST: {source} is not a valid gzip file ({e})") from None


def parse_idx(raw: bytes, source: str, magic: int) -> np.ndarray:
    """Parse an uncompressed IDX file of unsigned bytes.

    Args:
        raw: the file's bytes.
        source: file name or URL, for error messages.
        magic: expected magic number (``0x803`` images, ``0x801`` labels).

    Returns:
        uint8 array with the dimensions from the header (a view of ``raw``).
    """
    if len(raw) < 4:
        raise ValueError(f"MNIST: {source} is too short to be an IDX file ({len(raw)} bytes)")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise ValueError(
            f"MNIST: {source} has magic number 0x{found:08x}, expected 0x{magic:08x} "
            f"(not an MNIST IDX file of this kind, or corrupt)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"MNIST: {source} is truncated inside its header ({len(raw)} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(
            f"MNIST: {source} has {len(raw)} bytes, but its header (dims {dims}) implies "
            f"{expected}: truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _load_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,))``."""
    images = parse_idx(_decompress(images_path.read_bytes(), str(images_path)),
                       str(images_path), _IMAGES_MAGIC)
    labels = parse_idx(_decompress(labels_path.read_bytes(), str(labels_path)),
                       str(labels_path), _LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"MNIST: {images_path} holds images of {images.shape[1:]}, expected 28x28")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST: {images_path} has {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"MNIST: {labels_path} has label {labels.max()}, expected 0..9")
    data = images.reshape(-1, 1, 28, 28).astype(np.float32)
    data *= np.float32(1 / 255)
    return data, labels.astype(np.int64)


def _download(name: str, dest: Path, errors: list[str]) -> Path | None:
    """Fetch ``name`` into ``dest`` from the first mirror that answers; None when none does.

    Unreachable mirrors are appended to ``errors``; a payload whose checksum does not match
    raises ``ValueError`` (the mirror serves wrong data, which must not pass silently).
    """
    import http.client
    import urllib.request

    for mirror in MIRRORS:
        url = f"{mirror}{name}.gz"
        tmp = None
        try:
            dest.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
            raw = Path(tmp).read_bytes()
            try:
                payload = _decompress(raw, url)
            except ValueError as e:  # an error page or a cut transfer: try the next mirror
                errors.append(f"{url}: {e}")
                continue
            digest = hashlib.sha256(payload).hexdigest()
            if digest != SHA256[name]:
                raise ValueError(
                    f"MNIST: checksum mismatch for {url}: SHA-256 of the decompressed file is "
                    f"{digest}, expected {SHA256[name]}; the file was not saved"
                )
            final = dest / (f"{name}.gz" if raw[:2] == b"\x1f\x8b" else name)
            os.replace(tmp, final)
            tmp = None
            logger.info("MNIST: downloaded %s to %s", url, final)
            return final
        except (OSError, http.client.HTTPException) as e:
            errors.append(f"{url}: {e}")
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    return None


class MNIST(TensorDataset):
    """The MNIST digits: 60,000 training and 10,000 test images of 28x28 pixels.

    See the module docstring for where the files are looked for and how they are downloaded.

    Args:
        root: directory holding the IDX files (searched first).
        train: the training split, else the test split.
        download: download missing files into the cache.

    Shape:
        ``dataset[i]`` is ``(image, label)``: a float32 Tensor ``(1, 28, 28)`` with values in
        ``[0, 1]`` and an int64 Tensor ``()``.

    Attributes:
        data: float32 array ``(N, 1, 28, 28)``. targets: int64 array ``(N,)``.
        source: directory the files were read from.
        using_sample: True when the packaged 10k test split stands in because nothing else was
            found (then ``train=True`` gives the test split as well).
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True) -> None:
        self.train = bool(train)
        self.using_sample = False
        names = FILES[self.train]
        dirs = [Path(root).expanduser()] if root is not None else []
        if os.environ.get("NNCORE_DATA"):
            dirs.append(Path(os.environ["NNCORE_DATA"]).expanduser())
        cache = Path(CACHE_DIR).expanduser()
        dirs.append(cache)

        paths = None
        for d in dirs:
            found = [_find(d, n) for n in names]
            if None not in found:
                paths = found
                break
        errors: list[str] = []
        if paths is None and download:
            found = []
            for n in names:
                path = _find(cache, n) or _download(n, cache, errors)
                if path is None:
                    break
                found.append(path)
            else:
                paths = found
        if paths is None:
            paths = self._sample(names, dirs, download, errors)

        self.source = paths[0].parent
        self.data, self.targets = _load_split(*paths)
        super().__init__(self.data, self.targets)

    def _sample(self, names: tuple[str, str], dirs: list[Path], download: bool,
                errors: list[str]) -> list[Path]:
        test_names = FILES[False]
        found = [_find(SAMPLE_DIR, n) for n in test_names]
        if None not in found:
            self.using_sample = True
            logger.warning(
                "MNIST: no %s files found in %s%s; using the sample packaged with nncore, which "
                "is the 10,000-image TEST split%s. Set $NNCORE_DATA or pass root= for the full "
                "dataset.",
                "training" if self.train else "test",
                ", ".join(map(str, dirs)),
                " and the download failed" if download else " (download=False)",
                " (standing in for the training split)" if self.train else "",
            )
            return found
        looked = [f"{d}/{{{','.join(names)}}}[.gz]" for d in dirs] + [str(SAMPLE_DIR)]
        detail = "; ".join(errors) if errors else "download=False" if not download else ""
        raise FileNotFoundError(
            "MNIST: dataset not found. Looked in: " + ", ".join(looked)
            + (f". Download failed: {detail}" if detail else "")
            + ". Set $NNCORE_DATA to a directory with the IDX files or pass root=."
        )

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        sample = ", using_sample=True" if self.using_sample else ""
        return f"MNIST(split={split}, n={len(self)}, source={str(self.source)!r}{sample})"
