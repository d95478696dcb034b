"""Keep numba's on-disk kernel cache true to :mod:`.inline`.

numba keys a cached kernel on its own file's modification time and size, not on the files of
the functions it inlines: after an edit of ``inline.py`` every kernel module would load its
stale compiled kernels from ``__pycache__`` and silently run the old arithmetic. So
``inline.py`` calls :func:`drop_stale` (with ``moments.py``, whose constants it compiles in)
when it is imported, before any kernel compiles or loads: when the sources' hash differs
from the one stamped beside the cache, the package's cached kernels are deleted and compile
again on first use.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

STAMP = "inline.sha256"


def drop_stale(source: str | Path, *more: str | Path) -> bool:
    """Delete the numba cache files beside ``source`` when it (or any file in ``more``: what
    the kernels read at compile time, such as constants) changed since the stamp was
    written; ``True`` when it did. A cache folder that cannot be written (an installed,
    read-only package: numba then caches elsewhere, keyed on the installed files) is left
    alone."""
    source = Path(source)
    folder = source.parent / "__pycache__"
    h = hashlib.sha256()
    for f in (source, *more):
        h.update(Path(f).read_bytes())
    digest = h.hexdigest()
    stamp = folder / STAMP
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    for f in folder.iterdir():
        if f.suffix in (".nbi", ".nbc"):
            try:
                f.unlink()
            except FileNotFoundError:   # another process removed it first
                pass
    tmp = folder / f"{STAMP}.{os.getpid()}.tmp"
    tmp.write_text(digest)
    os.replace(tmp, stamp)
    return True
