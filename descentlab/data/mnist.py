"""MNIST from its four IDX files (LeCun, Cortes & Burges), the classic ``load_mnist``.

Where the files are looked for, in order: ``data_dir``; else ``$DESCENTLAB_DATA``; else the
user cache directory (``$XDG_CACHE_HOME/descentlab/mnist``, by default
``~/.cache/descentlab/mnist``). In each, the files may sit directly or in a ``mnist/``
subfolder, gzipped (``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``).

Reading is a bounded stream: the IDX header is read first and checked (magic number, sizes
that overflow or exceed :data:`MAX_IDX_BYTES`), then exactly the bytes it declares are
decompressed chunk by chunk into one array, hashing them on the way; a file holding more
than its header declares (a gzip bomb, a concatenation) stops at that bound with an error.
The SHA-256 of the decompressed content is compared with :data:`SHA256` for files that
declare the official sizes (60,000 / 10,000 items; a custom subset has no published
checksum) or with the ``checksums`` passed in. A verified file is remembered by a stamp
(path, size, modification time) in ``$XDG_CACHE_HOME/descentlab/verified-mnist.txt``, so it
is hashed once.

Missing files are downloaded (from the first of :data:`MIRRORS` that answers) into that
directory, with a progress bar and an overall deadline (:data:`DOWNLOAD_DEADLINE` seconds
per file and mirror, connecting and the headers included: a mirror trickling one byte every
2 s is given up on, :class:`_Deadline`); the download is checked by the same bounded
stream before it is moved into place atomically, so a cut connection, a deadline, Ctrl-C
or a corrupt file never leaves a file behind (nor a folder the download created).

IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header — two zero bytes, a type
byte (0x08 = unsigned byte), the number of dimensions d — then d big-endian int32 sizes, then
the data in C order.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import FileFormatError, InputError

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

#: The number of items of the official files (their checksums apply to files of these sizes).
OFFICIAL_COUNTS = {"train": 60_000, "t10k": 10_000}

#: Public mirrors serving ``<name>.gz``, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: The most an IDX file may declare (the real training images are 47 MB).
MAX_IDX_BYTES = 1 << 30
#: The most a download may be (the largest MNIST file is 9.9 MB compressed).
MAX_DOWNLOAD_BYTES = 64 << 20
#: Seconds a whole file's download may take, and a stalled connection may wait.
DOWNLOAD_DEADLINE = 600.0
SOCKET_TIMEOUT = 30.0
_CHUNK = 1 << 16

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(FileFormatError):
    """A data file is missing, corrupt or not what it claims to be (the message names it)."""


# ---------------------------------------------------------------------------- reading
@contextlib.contextmanager
def _open(path: Path) -> Iterator[IO[bytes]]:
    try:
        f: IO[bytes] = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    with f:
        yield f


def _read(f: IO[bytes], n: int, name: str) -> bytes:
    try:
        return f.read(n)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{name}: damaged file ({e})") from None


def _header(f: IO[bytes], name: str, digest: Any) -> tuple[np.dtype, tuple[int, ...], int]:
    """Read and check the header; returns (dtype, shape, data bytes declared)."""
    head = _read(f, 4, name)
    if len(head) < 4:
        raise DataError(f"{name}: truncated IDX file ({len(head)} bytes, no header)")
    if head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
        raise DataError(f"{name}: wrong magic number 0x{head.hex()} (not an IDX file)")
    ndim = head[3]
    sizes = _read(f, 4 * ndim, name)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{name}: truncated IDX file (header needs {4 + 4 * ndim} bytes, "
                        f"file has {4 + len(sizes)})")
    digest.update(head + sizes)
    shape = tuple(int(n) for n in np.frombuffer(sizes, ">u4", ndim))
    dtype = np.dtype(_IDX_TYPES[head[2]])
    total = dtype.itemsize  # Python ints: no overflow while multiplying
    for n in shape:
        total *= n
    if total > MAX_IDX_BYTES:
        raise DataError(f"{name}: the header declares shape {shape}, {total:,} bytes, more "
                        f"than the {MAX_IDX_BYTES:,} an IDX file may hold here")
    return dtype, shape, total


def _stream(f: IO[bytes], name: str, digest: Any, total: int, into: memoryview | None,
            header_bytes: int) -> None:
    """Read exactly ``total`` data bytes (into ``into`` if given), hashing them; then make
    sure nothing follows."""
    done = 0
    while done < total:
        chunk = _read(f, min(_CHUNK, total - done), name)
        if not chunk:
            raise DataError(f"{name}: truncated IDX file (the header declares "
                            f"{header_bytes + total} bytes, file has {header_bytes + done})")
        digest.update(chunk)
        if into is not None:
            into[done:done + len(chunk)] = chunk
        done += len(chunk)
    if _read(f, 1, name):
        raise DataError(f"{name}: oversized IDX file (more data than the "
                        f"{header_bytes + total} bytes its header declares)")


def _read_idx(path: Path, keep: bool = True,
              hashed: bool = True) -> tuple[np.ndarray | None, str]:
    """(array or None, SHA-256 of the decompressed content, "" unless ``hashed``), as one
    bounded stream."""
    name = str(path)
    digest: Any = hashlib.sha256() if hashed else _NoHash()
    with _open(path) as f:
        dtype, shape, total = _header(f, name, digest)
        buffer = bytearray(total) if keep else None
        _stream(f, name, digest, total, None if buffer is None else memoryview(buffer),
                4 + 4 * len(shape))
    array = None if buffer is None else _as_array(buffer, dtype, shape, name)
    return array, digest.hexdigest()


class _NoHash:
    """Stands in for a hash of a file already verified (see :func:`_verified`)."""

    def update(self, data: bytes) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


def _as_array(buffer: bytearray, dtype: np.dtype, shape: tuple[int, ...],
              name: str) -> np.ndarray:
    try:
        array = np.frombuffer(buffer, dtype).reshape(shape)
    except ValueError as e:  # e.g. (0, 2**21, 2**21, 2**21): empty, but not representable
        raise DataError(f"{name}: shape {shape} cannot be an array ({e})") from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file into an array; errors name ``name``."""
    import io

    digest = hashlib.sha256()
    f = io.BytesIO(data)
    dtype, shape, total = _header(f, name, digest)
    buffer = bytearray(total)
    _stream(f, name, digest, total, memoryview(buffer), 4 + 4 * len(shape))
    return _as_array(buffer, dtype, shape, name)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (raw or ``.gz``), as a bounded stream (see the module docstring)."""
    array, _ = _read_idx(Path(path))
    assert array is not None
    return array


def _check_role(array: np.ndarray, role: str, path: Path) -> None:
    images = "images" in role
    if array.dtype != np.uint8 or array.ndim != (3 if images else 1):
        raise DataError(f"{path}: wrong magic number for {role.replace('_', ' ')} (expected "
                        f"unsigned bytes in {3 if images else 1} dimensions, found "
                        f"{array.dtype} in {array.ndim})")
    if images and array.shape[1:] != (28, 28):
        raise DataError(f"{path}: images are {array.shape[1]}×{array.shape[2]}, MNIST's are "
                        "28×28")
    if not images and array.size and int(array.max()) > 9:
        raise DataError(f"{path}: label {int(array.max())} is not a digit 0–9")


# ---------------------------------------------------------------------------- checksums
def _stamp_file() -> Path:
    return default_cache_dir().parent / "verified-mnist.txt"


def _stamp(path: Path, sha: str) -> str:
    st = path.stat()
    return f"{sha} {st.st_size} {st.st_mtime_ns} {path.resolve()}"


def _verified(path: Path, sha: str) -> bool:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return _stamp(path, sha) in _stamp_file().read_text(encoding="utf-8").splitlines()
    return False


def _remember(path: Path, sha: str) -> None:
    from ..files import write_text

    with contextlib.suppress(OSError, UnicodeDecodeError):
        file = _stamp_file()
        lines = file.read_text(encoding="utf-8").splitlines() if file.is_file() else []
        write_text(file, "\n".join([*lines[-99:], _stamp(path, sha)]) + "\n")


def _expected_sha(base: str, shape: tuple[int, ...],
                  checksums: dict[str, str] | None) -> str | None:
    if checksums is not None:
        return checksums.get(base)
    if shape and shape[0] == OFFICIAL_COUNTS.get(base.split("-")[0]):
        return SHA256.get(base)
    return None


def _load_checked(path: Path, base: str, checksums: dict[str, str] | None) -> np.ndarray:
    candidate = (SHA256 if checksums is None else checksums).get(base)
    stamped = candidate is not None and _verified(path, candidate)
    array, sha = _read_idx(path, hashed=not stamped)  # a stamped file is not hashed again
    assert array is not None
    expected = _expected_sha(base, array.shape, checksums)
    if expected is not None and not stamped:
        if sha != expected:
            raise DataError(f"{path}: SHA-256 mismatch (got {sha}, expected {expected}): not "
                            "the published MNIST file; delete it to download it again")
        _remember(path, expected)
    return array


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


def _check_directory(directory: Path) -> None:
    """A data directory that is a file, lies under a file, or cannot be written: say so."""
    for parent in [directory, *directory.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"the data directory {directory} is not a folder "
                                f"({parent} is a file)")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise DataError(f"the data directory {directory} cannot be written "
                                f"({parent} is read-only), so the missing MNIST files cannot "
                                "be downloaded there; put the four files there or choose "
                                "another folder (--data-dir, $DESCENTLAB_DATA)")
            return


# ---------------------------------------------------------------------------- download
def _progress_bar(label: str, done: int, total: int) -> str:
    if total <= 0:
        return f"\r  {label}: {done / 1e6:.1f} MB"
    filled = 30 * done // total
    return (f"\r  {label}: [{'#' * filled}{'.' * (30 - filled)}] {100 * done // total:3d}% "
            f"({done / 1e6:.1f}/{total / 1e6:.1f} MB)")


class _Deadline:
    """An overall deadline on one download, whatever it is blocked in: connecting, the
    status line and headers, or the body (a server sending one byte every 2 s never trips a
    per-read timeout). Every socket the download opens is recorded; when the deadline
    passes a timer shuts them down, so the blocked read returns at once and the download
    fails with ``fired`` set."""

    def __init__(self, seconds: float) -> None:
        import threading

        self.sockets: list[Any] = []
        self.fired = False
        self.lock = threading.Lock()
        self.timer = threading.Timer(max(seconds, 0.0), self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        import socket

        with self.lock:
            self.fired = True
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _connect(self, *args: Any, **kwargs: Any) -> Any:
        import socket

        sock = socket.create_connection(*args, **kwargs)
        with self.lock:
            self.sockets.append(sock)
            if self.fired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        return sock

    def opener(self) -> urllib.request.OpenerDirector:
        """urllib's opener whose HTTP(S) connections open their sockets through the watch."""
        connect = self._connect

        class HTTP(http.client.HTTPConnection):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = connect

        class HTTPS(http.client.HTTPSConnection):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = connect

        class HTTPHandler(urllib.request.HTTPHandler):
            def http_open(self, req: Any) -> Any:
                return self.do_open(HTTP, req)

        class HTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: Any) -> Any:
                return self.do_open(HTTPS, req, context=self._context)

        return urllib.request.build_opener(HTTPHandler, HTTPSHandler)

    def __enter__(self) -> _Deadline:
        self.timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.timer.cancel()


def _fetch(url: str, dest: Path, progress: bool, label: str,
           deadline: float = DOWNLOAD_DEADLINE) -> None:
    """Stream ``url`` into ``dest`` (a temp path) within ``deadline`` seconds overall
    (:class:`_Deadline`: connecting and the headers included) and
    :data:`MAX_DOWNLOAD_BYTES`, showing a progress bar on stderr."""
    arrived = [0]
    with _Deadline(deadline) as watch:
        try:
            _stream_url(url, dest, progress, label, deadline, watch, arrived)
        except (OSError, ValueError, http.client.HTTPException) as e:
            if watch.fired:
                raise DataError(f"{url}: not done within the {deadline:g} s deadline "
                                f"({arrived[0]:,} bytes arrived)") from None
            raise e from None
    if watch.fired:  # finished as the timer fired: the data may be cut short
        raise DataError(f"{url}: not done within the {deadline:g} s deadline "
                        f"({arrived[0]:,} bytes arrived)")


def _stream_url(url: str, dest: Path, progress: bool, label: str, deadline: float,
                watch: _Deadline, arrived: list[int]) -> None:
    t0 = time.monotonic()
    with watch.opener().open(url, timeout=SOCKET_TIMEOUT) as response, \
            open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        if total > MAX_DOWNLOAD_BYTES:
            raise DataError(f"{url}: {total:,} bytes is more than an MNIST file "
                            f"({MAX_DOWNLOAD_BYTES:,} at most)")
        done = 0
        try:
            read = getattr(response, "read1", response.read)  # what has arrived, so a
            while chunk := read(_CHUNK):  # trickling server still meets the deadline
                out.write(chunk)
                done += len(chunk)
                arrived[0] = done
                if done > MAX_DOWNLOAD_BYTES:
                    raise DataError(f"{url}: more than {MAX_DOWNLOAD_BYTES:,} bytes, more "
                                    "than an MNIST file")
                if time.monotonic() - t0 > deadline:
                    raise DataError(f"{url}: not done within the {deadline:g} s deadline "
                                    f"({done:,} bytes arrived)")
                if progress:
                    sys.stderr.write(_progress_bar(label, done, total))
        finally:
            if progress:
                sys.stderr.write("\n")
        if total and done != total:
            raise DataError(f"{url}: the connection was cut after {done:,} of {total:,} bytes")


def download_mnist(directory: str | os.PathLike, *, mirrors: Sequence[str] = MIRRORS,
                   checksums: dict[str, str] | None = None, progress: bool = True,
                   names: Sequence[str] | None = None,
                   deadline: float = DOWNLOAD_DEADLINE) -> list[Path]:
    """Download the MNIST files missing from ``directory`` (as ``<name>.gz``).

    Each file is fetched into a temporary file in ``directory`` (within ``deadline`` seconds),
    read back as a bounded stream whose SHA-256 is compared with ``checksums`` (default
    :data:`SHA256`), then moved into place with ``os.replace``. A failing mirror or a checksum
    mismatch moves on to the next mirror; if none succeeds a :class:`DataError` names the file
    and every mirror's failure, and nothing is left behind (not even a folder this call
    created). Returns the paths written.
    """
    directory = Path(directory)
    _check_directory(directory)
    checksums = SHA256 if checksums is None else checksums
    created = [p for p in [directory, *directory.parents] if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"the data directory {directory} cannot be created "
                        f"({e.strerror or e})") from None
    written: list[Path] = []
    try:
        for base in names if names is not None else MNIST_FILES.values():
            if not _find(directory, base):
                written.append(_download_one(directory, base, mirrors, checksums, progress,
                                             deadline))
    except BaseException:
        if not written:
            for folder in created:  # innermost first: only the empty folders made here
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise
    return written


def _download_one(directory: Path, base: str, mirrors: Sequence[str],
                  checksums: dict[str, str], progress: bool, deadline: float) -> Path:
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + base + ".gz"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{base}.part.", suffix=".gz", dir=directory)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if progress:
                print(f"downloading {url}", file=sys.stderr)
            _fetch(url, tmp, progress, base + ".gz", deadline)
            _, digest = _read_idx(tmp, keep=False)
            if base in checksums and digest != checksums[base]:
                raise DataError(f"{base}: SHA-256 mismatch (got {digest}, expected "
                                f"{checksums[base]})")
            final = directory / (base + ".gz")
            os.replace(tmp, final)
            return final
        except (TimeoutError, OSError, DataError, urllib.error.URLError, ValueError,
                http.client.HTTPException) as e:  # a malformed answer: the next mirror
            why = e.reason if isinstance(e, urllib.error.URLError) else e
            failures.append(f"{mirror}: {why}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {base}.gz into {directory} (offline? put the "
                    f"four IDX files in a folder and pass it as data_dir / --data-dir, "
                    f"or set DESCENTLAB_DATA):\n  " + "\n  ".join(failures))


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
        mirrors, progress: see :func:`download_mnist`.
        checksums: SHA-256 per base name that every file must match (default: the published
            ones, for files of the official sizes).
        one_hot_label: the classic name of ``one_hot`` (accepted for old code).

    Raises:
        DataError (a ``FileFormatError``, so a ``ValueError``): a missing file (with
        ``download=False``), a wrong magic number, a truncated or oversized file, images that
        are not 28×28, labels outside 0–9, a count mismatch, a failed download or checksum, a
        data directory that is a file or read-only — the message names the file or folder.
    """
    if one_hot_label is not None:
        one_hot = one_hot_label
    for flag, value in (("normalize", normalize), ("flatten", flatten), ("one_hot", one_hot),
                        ("download", download)):
        if not isinstance(value, bool | np.bool_):
            raise InputError(f"load_mnist: {flag} must be True or False, got {value!r}")
    directory = _resolve_dir(data_dir)
    if directory.exists() and not directory.is_dir():
        raise DataError(f"the data directory {directory} is not a folder")
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
        arrays[role] = _load_checked(path, MNIST_FILES[role], checksums)
        _check_role(arrays[role], role, path)
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
            t = np.eye(10, dtype=np.float32)[t]
        out.append((x, t))
    return out[0], out[1]
