"""Atomic file writing (a temporary file in the same folder, then ``os.replace``), CSV text
written by the :mod:`csv` module (quoting labels with commas or quotes), and a bounded read
of an untrusted file (:func:`read_bounded`: regular files only, at most N bytes).

Re-writing an existing file keeps its permission bits (a checkpoint made read-only for the
group stays so). Writing through a symbolic link replaces the file the link points to, in
that file's folder; the link itself stays (a dangling link gets its target created).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import FileFormatError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``.

    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> with atomic_path(f"{d}/a.txt") as tmp:
    ...     _ = pathlib.Path(tmp).write_text("hi")
    >>> pathlib.Path(f"{d}/a.txt").read_text()
    'hi'
    """
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    os.close(fd)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)  # re-writing keeps the file's mode
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # mkstemp makes files private; give new ones the usual mode
    try:
        yield tmp
        os.chmod(tmp, mode)  # after writing: the mode may be read-only
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def removed_on_failure(written: list[Path]) -> Iterator[list[Path]]:
    """A command's outputs, appended to ``written`` as each is written (the manifest last):
    if the block fails — an error, Ctrl-C during a long animation — the files written so
    far are removed again, so a folder never holds a run's outputs without its manifest.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     with removed_on_failure([]) as written:
    ...         written.append(write_text(d / "a.csv", "x"))
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> list(d.iterdir())
    []
    """
    try:
        yield written
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                os.remove(path)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return Path(path)


def replace_fenced(path: str | os.PathLike, start: str, end: str, block: str) -> Path:
    r"""Rewrite the text of ``path`` between the marker lines ``start`` and ``end`` as ``block``
    in a code fence, atomically (a benchmark's generated output quoted in a doc); a file
    without both markers is refused, unchanged.

    >>> import tempfile
    >>> doc = Path(tempfile.mkdtemp()) / "doc.md"
    >>> _ = doc.write_text("intro\n<!-- b -->\nold\n<!-- e -->\noutro\n")
    >>> print(replace_fenced(doc, "<!-- b -->", "<!-- e -->", "new\n").read_text(), end="")
    intro
    <!-- b -->
    ```
    new
    ```
    <!-- e -->
    outro
    """
    text = Path(path).read_text(encoding="utf-8")
    if start not in text or end not in text.split(start, 1)[1]:
        raise SystemExit(f"{path}: no {start} ... {end} block to update")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    return write_text(path, f"{head}{start}\n```\n{block.rstrip(chr(10))}\n```\n{end}{tail}")


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text with a header row, through :func:`csv.writer` (``\\n`` line ends): a field
    holding a comma, a quote or a line break is quoted, so every row has the header's fields.

    >>> print(csv_text(["optimizer", "f"], [["adam:lr=0.3,eps=1e-10", 0.5]]), end="")
    optimizer,f
    "adam:lr=0.3,eps=1e-10",0.5
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def read_bounded(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of ``path``, an untrusted file: a regular file (not a FIFO, a device such as
    /dev/zero, a folder or a socket) of at most ``limit`` bytes, else a one-line
    :class:`~descentlab.errors.FileFormatError` naming it. Never blocks (a FIFO is opened
    non-blocking and refused) and reads at most ``limit`` + 1 bytes whatever ``st_size``
    says (a file growing meanwhile, or a special file claiming 0 bytes).

    >>> read_bounded("/dev/zero", 100, "manifest")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    descentlab.errors.FileFormatError: /dev/zero is a character device, not a regular file; ...
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileFormatError(f"no {what} at {p}") from None
    except IsADirectoryError:
        raise FileFormatError(f"{p} is a folder, not a {what}") from None
    except OSError as e:
        raise FileFormatError(f"{p}: cannot read ({e.strerror or e})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)"
                    if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                    else "a block device" if stat.S_ISBLK(mode) else "a socket"
                    if stat.S_ISSOCK(mode) else "not a regular file")
            raise FileFormatError(f"{p} is {kind}, not a regular file; not a {what}")
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as e:
        raise FileFormatError(f"{p}: cannot read ({e.strerror or e})") from None
    finally:
        os.close(fd)
    if got > limit:
        raise FileFormatError(f"{p} holds more than {limit:,} bytes, too large for a {what}")
    return b"".join(chunks)
