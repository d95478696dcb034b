"""MNIST from its four IDX files (LeCun, Cortes & Burges), the classic ``load_mnist``.

Where the files are looked for, in order: ``data_dir``; else ``$DESCENTLAB_DATA``; else the
user cache directory (``$XDG_CACHE_HOME/descentlab/mnist``, by default
``~/.cache/descentlab/mnist``). In each, the files may sit directly or in a ``mnist/``
subfolder, gzipped (``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``).

Missing files are downloaded (from the first of :data:`MIRRORS` that answers) into that
directory, with a progress indicator; the SHA-256 of the *decompressed* content is checked
against :data:`SHA256` before the file is moved into place atomically, so an interrupted or
corrupt download never leaves a file behind.

IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header — two zero bytes, a type
byte (0x08 = unsigned byte), the number of dimensions d — then d big-endian int32 sizes, then
the data in C order.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: The four files: role → base name (the ``.gz`` suffix is optional on disk).
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: SHA-256 of each file's decompressed content.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Public mirrors serving ``<name>.gz``, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(ValueError):
    """A data file is missing, corrupt or not what it claims to be (the message names it)."""


# ---------------------------------------------------------------------------- reading
def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from e


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file into an array; errors name ``name``."""
    if len(data) < 4:
        raise DataError(f"{name}: truncated IDX file ({len(data)} bytes, no header)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataError(f"{name}: wrong magic number 0x{data[:4].hex()} (not an IDX file)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX file (header needs {header} bytes, "
                        f"file has {len(data)})")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "oversized"
        raise DataError(f"{name}: {kind} IDX file (shape {shape} needs {expected} bytes, "
                        f"file has {len(data)})")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (raw or ``.gz``)."""
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def _check_magic(array: np.ndarray, name: str, ndim: int, path: Path) -> None:
    if array.ndim != ndim or array.dtype != np.uint8:
        raise DataError(f"{path}: wrong magic number for {name} (expected unsigned bytes in "
                        f"{ndim} dimensions, found {array.dtype} in {array.ndim})")


# ---------------------------------------------------------------------------- locating
def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/descentlab/mnist`` (default ``~/.cache/descentlab/mnist``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "descentlab" / "mnist"


def _resolve_dir(data_dir: str | os.PathLike | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("DESCENTLAB_DATA")
    return Path(env).expanduser() if env else default_cache_dir()


def _find(directory: Path, base: str) -> Path | None:
    for folder in (directory, directory / "mnist"):
        for name in (base + ".gz", base):
            if (folder / name).is_file():
                return folder / name
    return None


# ---------------------------------------------------------------------------- download
def _fetch(url: str, dest: Path, progress: bool, label: str) -> None:
    """Stream ``url`` into ``dest`` (a temp path), showing progress on stderr."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        show = progress and total > 0
        while chunk := response.read(1 << 16):
            out.write(chunk)
            done += len(chunk)
            if show:
                sys.stderr.write(f"\r  {label}: {100 * done // total:3d}% "
                                 f"({done / 1e6:.1f}/{total / 1e6:.1f} MB)")
        if show:
            sys.stderr.write("\n")


def download_mnist(directory: str | os.PathLike, *, mirrors: Sequence[str] = MIRRORS,
                   checksums: dict[str, str] | None = None, progress: bool = True,
                   names: Sequence[str] | None = None) -> list[Path]:
    """Download the MNIST files missing from ``directory`` (as ``<name>.gz``).

    Each file is fetched into a temporary file in ``directory``, decompressed and its SHA-256
    compared with ``checksums`` (default :data:`SHA256`), then moved into place with
    ``os.replace``. A failing mirror or a checksum mismatch moves on to the next mirror; if
    none succeeds a :class:`DataError` names the file and every mirror's failure.
    Returns the paths written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    checksums = SHA256 if checksums is None else checksums
    written = []
    for base in names if names is not None else MNIST_FILES.values():
        if _find(directory, base):
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + base + ".gz"
            fd, tmp_name = tempfile.mkstemp(prefix=f".{base}.part.", suffix=".gz",
                                            dir=directory)
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                if progress:
                    print(f"downloading {url}", file=sys.stderr)
                _fetch(url, tmp, progress, base + ".gz")
                digest = hashlib.sha256(_read_bytes(tmp)).hexdigest()
                if base in checksums and digest != checksums[base]:
                    raise DataError(f"{base}: SHA-256 mismatch (got {digest}, expected "
                                    f"{checksums[base]})")
                final = directory / (base + ".gz")
                os.replace(tmp, final)
                written.append(final)
                break
            except (OSError, DataError, ValueError) as e:
                failures.append(f"{url}: {e}")
            finally:
                tmp.unlink(missing_ok=True)
        else:
            raise DataError(f"could not download {base}.gz into {directory} (offline? put the "
                            f"four IDX files in a folder and pass it as data_dir / --data-dir, "
                            f"or set DESCENTLAB_DATA):\n  " + "\n  ".join(failures))
    return written


# ---------------------------------------------------------------------------- loading
def load_mnist(data_dir: str | os.PathLike | None = None, normalize: bool = True,
               flatten: bool = True, one_hot: bool = False, *, download: bool = True,
               mirrors: Sequence[str] = MIRRORS, checksums: dict[str, str] | None = None,
               progress: bool = True, one_hot_label: bool | None = None,
               ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, t_train), (x_test, t_test)`` — the classic ``load_mnist``.

    Args:
        data_dir: where the files are (see the module docstring for the search order).
        normalize: images as float32 in [0, 1] (x/255); else uint8 0..255.
        flatten: images as (N, 784); else (N, 1, 28, 28).
        one_hot: labels as float32 one-hot rows (N, 10); else uint8 class indices (N,).
        download: fetch missing files (default); else a missing file is an error.
        mirrors, checksums, progress: see :func:`download_mnist`.
        one_hot_label: the classic name of ``one_hot`` (accepted for old code).

    Raises:
        DataError (a ``ValueError``): a missing file (with ``download=False``), a wrong magic
        number, a truncated file, a failed download or checksum — the message names the file.
    """
    if one_hot_label is not None:
        one_hot = one_hot_label
    directory = _resolve_dir(data_dir)
    paths = {role: _find(directory, base) for role, base in MNIST_FILES.items()}
    missing = [MNIST_FILES[r] for r, p in paths.items() if p is None]
    if missing:
        if not download:
            raise DataError(f"MNIST file(s) missing from {directory}: {', '.join(missing)} "
                            f"(pass download=True or --data-dir)")
        download_mnist(directory, mirrors=mirrors, checksums=checksums, progress=progress,
                       names=missing)
        paths = {role: _find(directory, base) for role, base in MNIST_FILES.items()}
    arrays: dict[str, Any] = {}
    for role, path in paths.items():
        assert path is not None
        arrays[role] = read_idx(path)
        _check_magic(arrays[role], role.replace("_", " "), 3 if "images" in role else 1, path)
    out = []
    for split in ("train", "test"):
        x, t = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(x) != len(t):
            raise DataError(f"{paths[f'{split}_images']}: {len(x)} images but "
                            f"{paths[f'{split}_labels']} has {len(t)} labels")
        if normalize:
            x = x.astype(np.float32)
            x /= np.float32(255)
        x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *x.shape[1:])
        if one_hot:
            if t.size and t.max() >= 10:
                raise DataError(f"{paths[f'{split}_labels']}: label {t.max()} is not a digit")
            t = np.eye(10, dtype=np.float32)[t]
        out.append((x, t))
    return out[0], out[1]

