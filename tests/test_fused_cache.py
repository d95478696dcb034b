"""numba's kernel cache is dropped when fused/inline.py changes (numba keys a kernel on its
own file only, not on the inlined functions it uses)."""

from __future__ import annotations

from descentlab.optim.fused import numba_cache as cache


def test_an_edit_of_the_inlined_source_drops_the_cached_kernels(tmp_path):
    src = tmp_path / "inline.py"
    src.write_text("def f(): return 1\n")
    pyc = tmp_path / "__pycache__"
    pyc.mkdir()
    kept = pyc / "inline.cpython-311.pyc"
    kept.write_text("bytecode")
    old = [pyc / "kernels.adam-196.py311.nbi", pyc / "kernels.adam-196.py311.1.nbc"]
    for f in old:
        f.write_text("stale")
    assert cache.drop_stale(src) is True                # no stamp yet: nothing is trusted
    assert not any(f.exists() for f in old) and kept.exists()
    fresh = pyc / "kernels.adam-196.py311.nbi"
    fresh.write_text("compiled from this source")
    assert cache.drop_stale(src) is False               # unchanged source: cache kept
    assert fresh.exists()
    src.write_text("def f(): return 2\n")
    assert cache.drop_stale(src) is True                # edited: the kernels go
    assert not fresh.exists() and kept.exists()
    assert cache.drop_stale(src) is False


def test_a_missing_cache_folder_is_made_and_stamped(tmp_path):
    src = tmp_path / "inline.py"
    src.write_text("x = 1\n")
    assert cache.drop_stale(src) is True
    assert (tmp_path / "__pycache__" / cache.STAMP).exists()
    assert cache.drop_stale(src) is False


def test_the_package_stamp_is_this_inline_source():
    """Importing the kernels' inline module stamped the cache with its own source."""
    import hashlib
    from pathlib import Path

    from descentlab.optim import moments
    from descentlab.optim.fused import inline

    src = Path(inline.__file__)
    stamp = src.parent / "__pycache__" / cache.STAMP
    digest = hashlib.sha256(src.read_bytes() + Path(moments.__file__).read_bytes())
    assert stamp.read_text() == digest.hexdigest()


def test_a_changed_constants_file_drops_them_too(tmp_path):
    src, consts = tmp_path / "inline.py", tmp_path / "moments.py"
    src.write_text("x = 1\n")
    consts.write_text("C = 1.0\n")
    assert cache.drop_stale(src, consts) is True
    assert cache.drop_stale(src, consts) is False
    consts.write_text("C = 2.0\n")
    assert cache.drop_stale(src, consts) is True
