"""Your own optimizers, first-class: a Python file of yours, or an installed package.

A *plugin file* is an ordinary Python file that defines optimizer classes and registers them
with :func:`descentlab.optim.register`. :func:`load` runs it under a fresh module name (it
need not be importable, nothing is added to ``sys.path``) and returns a :class:`Plugin`: the
file, the SHA-256 of the bytes that ran, and the names it registered. Every command that
takes optimizers takes ``--plugin FILE`` (repeatable) and loads the files before it runs;
manifests record each file and its hash, and ``descentlab rerun`` replays such a manifest
only when the same file is given again (``--plugin FILE``) with the same hash — a manifest
never makes descentlab import code on its own.

The rules: the file must exist and end in ``.py``; it must register at least one optimizer;
it must not take a name already registered (the built-in ``adam``, or another plugin's). A
failed load changes nothing: whatever the file registered before it failed is unregistered
again, and the error names the file and what went wrong in one line. The code that runs is
the code that was hashed (the file is read once, then compiled from those bytes).

Installed packages declare their optimizers in the entry-point group
:data:`ENTRY_POINT_GROUP` (``descentlab.optimizers``), e.g. in ``pyproject.toml``::

    [project.entry-points."descentlab.optimizers"]
    signsgd = "my_package.rules:SignSGD"

:func:`load_entry_points` imports them once per process (the command line calls it before
every command); an entry point names an optimizer class (registered under the entry point's
name unless its module registered it already) or a module that registers its classes when
imported.

>>> import pathlib, tempfile
>>> from descentlab import optim, plugins
>>> path = pathlib.Path(tempfile.mkdtemp()) / "my_rules.py"
>>> _ = path.write_text('''
... from descentlab import optim
...
... @optim.register
... class Halve(optim.Optimizer):
...     \"\"\"Halve: step half the gradient (an example).\"\"\"
...     name = "halve"
...     def rule(self, p, g, state, h):
...         p -= 0.5 * g
... ''')
>>> with plugins.loaded([path]) as found:
...     print(found[0].names, len(found[0].sha256), "halve" in optim.available())
('halve',) 64 True
>>> "halve" in optim.available()          # unregistered again when the block ends
False
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import itertools
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DescentlabError, FileFormatError, InputError

#: The entry-point group of installed packages' optimizers.
ENTRY_POINT_GROUP = "descentlab.optimizers"
#: A plugin file larger than this is refused (a source file, not data).
MAX_BYTES = 4 << 20

_counter = itertools.count(1)
#: The plugin files loaded in this process and not unloaded, in load order.
_ACTIVE: list[Plugin] = []
#: The names the installed packages' entry points registered (None: not loaded yet).
_ENTRY_POINT_NAMES: list[str] | None = None
#: What manifests keep of each loaded entry point (its package and version).
_ENTRY_POINT_RECORDS: list[dict[str, Any]] = []


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin file."""

    path: Path  #: the file, absolute
    sha256: str  #: hex digest of the bytes that ran
    names: tuple[str, ...]  #: the optimizer names it registered, in registration order
    module: str  #: the name of its module in ``sys.modules``

    def record(self) -> dict[str, Any]:
        """What a manifest keeps of it: ``{"file", "sha256", "optimizers"}``."""
        return {"file": str(self.path), "sha256": self.sha256, "optimizers": list(self.names)}


def _registered() -> list[str]:
    """Every registered name, in registration order."""
    from . import optim

    return [e.name for e in optim.entries()]


def _unregister(names: Iterable[str]) -> None:
    from .optim import registry

    for name in reversed(list(names)):
        if name in _registered():
            registry.unregister(name)


def read_source(path: str | os.PathLike) -> tuple[Path, bytes]:
    """The absolute path and the bytes of a plugin file; errors name the file."""
    given = Path(path).expanduser()
    if given.suffix != ".py":
        raise InputError(f"plugin {str(path)!r}: expected a Python file ending in .py")
    try:
        resolved = given.resolve(strict=True)
        if not resolved.is_file():
            raise InputError(f"plugin {str(path)!r} is not a file")
        size = resolved.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"plugin {str(path)!r}: {size:,} bytes is too large for a "
                             f"source file (at most {MAX_BYTES:,})")
        return resolved, resolved.read_bytes()
    except FileNotFoundError:
        raise InputError(f"plugin {str(path)!r}: no such file") from None
    except OSError as e:
        raise InputError(f"plugin {str(path)!r}: cannot read it ({e.strerror or e})") from None


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a plugin file's bytes, as :func:`load` and manifests record it."""
    return hashlib.sha256(read_source(path)[1]).hexdigest()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def load(path: str | os.PathLike) -> Plugin:
    """Run the plugin file ``path`` and return what it registered.

    Loading the same file again (same bytes) returns the loaded :class:`Plugin`; a file
    whose bytes changed since it was loaded is refused (its classes are still the old ones).
    Raises :class:`~descentlab.errors.InputError` (nothing registered) for a missing file, a
    file that fails to compile or raises on import, a file that registers nothing, and a
    name that is already registered.
    """
    resolved, source = read_source(path)
    digest = hashlib.sha256(source).hexdigest()
    for plugin in _ACTIVE:
        if plugin.path == resolved:
            if plugin.sha256 != digest:
                raise InputError(f"plugin {str(path)!r} has changed since it was loaded in "
                                 "this process; start a new one to load the new version")
            return plugin
    try:
        code = compile(source, str(resolved), "exec", dont_inherit=True)
    except SyntaxError as e:
        raise InputError(f"plugin {str(path)!r}: line {e.lineno}: {e.msg}") from None
    except ValueError as e:  # null bytes
        raise InputError(f"plugin {str(path)!r}: not Python source ({e})") from None
    stem = "".join(c if c.isalnum() else "_" for c in resolved.stem)
    module_name = f"descentlab_plugin_{next(_counter)}_{stem}"
    spec = importlib.util.spec_from_loader(module_name, loader=None, origin=str(resolved))
    assert spec is not None  # a loader-less spec is always made
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(resolved)
    before = set(_registered())
    sys.modules[module_name] = module  # dataclasses, pickling and typing look modules up
    try:
        exec(code, module.__dict__)  # noqa: S102 - the user's own file, named by them
    except (Exception, SystemExit) as e:
        added = [n for n in _registered() if n not in before]
        _unregister(added)
        del sys.modules[module_name]
        if isinstance(e, DescentlabError):  # e.g. register() refusing a taken name
            raise InputError(f"plugin {str(path)!r}: {e}") from None
        raise InputError(f"plugin {str(path)!r} raised {_one_line(e)} when it was run") \
            from None
    names = tuple(n for n in _registered() if n not in before)
    if not names:
        del sys.modules[module_name]
        raise InputError(f"plugin {str(path)!r} registered no optimizer: decorate its "
                         "class with @optim.register (from descentlab import optim)")
    plugin = Plugin(resolved, digest, names, module_name)
    _ACTIVE.append(plugin)
    return plugin


def unload(plugin: Plugin) -> None:
    """Unregister what ``plugin`` registered and forget its module (for tests and for
    :func:`loaded`); unloading twice does nothing."""
    if plugin in _ACTIVE:
        _ACTIVE.remove(plugin)
        _unregister(plugin.names)
        sys.modules.pop(plugin.module, None)


def active() -> list[Plugin]:
    """The plugin files loaded in this process, in load order (what manifests record)."""
    return list(_ACTIVE)


def source_of(name: str) -> Plugin | None:
    """The loaded plugin file that registered the optimizer ``name``, or None (a built-in,
    or a class registered otherwise). ``compare`` keeps its SHA-256 in each study's protocol,
    so a worker running other code for the same name is refused."""
    key = str(name).strip().lower()
    return next((p for p in _ACTIVE if key in p.names), None)


@contextlib.contextmanager
def loaded(paths: Sequence[str | os.PathLike] | None) -> Iterator[list[Plugin]]:
    """Load the plugin files ``paths`` for the duration of the block, all or none: when one
    fails, those loaded before it are unloaded again. Files loaded before the block stay."""
    new: list[Plugin] = []
    out: list[Plugin] = []
    try:
        for path in paths or ():
            was = list(_ACTIVE)
            plugin = load(path)
            out.append(plugin)
            if plugin not in was:
                new.append(plugin)
        yield out
    finally:
        for plugin in reversed(new):
            unload(plugin)


def check_records(records: Any, source: str) -> list[dict[str, Any]]:
    """A manifest's ``plugins`` list, checked: each ``{"file": text, "sha256": 64 hex digits,
    "optimizers": [text, ...]}``. Errors name ``source`` and the key."""
    if records is None:
        return []
    if not isinstance(records, list):
        raise FileFormatError(f"{source}: key 'plugins' must be a list, got "
                              f"{type(records).__name__}")
    for i, r in enumerate(records):
        where = f"{source}: key 'plugins[{i}]"
        if not isinstance(r, dict):
            raise FileFormatError(f"{where}' must be an object with file, sha256, optimizers")
        if not isinstance(r.get("file"), str) or not r["file"]:
            raise FileFormatError(f"{where}.file' must be a file name (text)")
        digest = r.get("sha256")
        if not (isinstance(digest, str) and len(digest) == 64
                and all(c in "0123456789abcdef" for c in digest)):
            raise FileFormatError(f"{where}.sha256' must be 64 lowercase hex digits")
        names = r.get("optimizers")
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise FileFormatError(f"{where}.optimizers' must be a list of names (text)")
    return records


def match_records(records: Sequence[dict[str, Any]], given: Sequence[str | os.PathLike],
                  source: str) -> list[str]:
    """The files to load for a replay: for each recorded plugin, the given file with the
    recorded SHA-256 (in the recorded order). Refused, naming the file and what to pass: a
    recorded plugin not given (or given with other bytes), or a given file the run did not
    use."""
    hashes = {str(g): file_sha256(g) for g in given}
    out: list[str] = []
    for r in records:
        name = Path(r["file"]).name
        found = [g for g, h in hashes.items() if h == r["sha256"]]
        if found:
            out.append(found[0])
            continue
        changed = [g for g in hashes if Path(g).name == name]
        if changed:
            raise InputError(f"{source}: plugin {changed[0]!r} is not the file the run used "
                             f"(its SHA-256 is {hashes[changed[0]][:12]}…, the manifest "
                             f"recorded {r['sha256'][:12]}… for {r['file']}); pass that "
                             "version of the file")
        raise InputError(f"{source} was run with the plugin {r['file']} (SHA-256 "
                         f"{r['sha256'][:12]}…), and a manifest never imports code by "
                         f"itself: pass the file, e.g. descentlab rerun {source} --plugin "
                         f"{name} --out DIR")
    extra = [g for g in hashes if g not in out]
    if extra:
        raise InputError(f"--plugin {extra[0]!r}: {source} was not run with this file "
                         f"(its plugins: {', '.join(r['file'] for r in records) or 'none'})")
    return out


def load_entry_points() -> list[str]:
    """Import the optimizers installed packages declare in :data:`ENTRY_POINT_GROUP`, once
    per process; returns the names they registered. A broken entry point is an
    :class:`~descentlab.errors.InputError` naming the package and the entry point."""
    global _ENTRY_POINT_NAMES
    if _ENTRY_POINT_NAMES is not None:
        return list(_ENTRY_POINT_NAMES)
    from importlib import metadata

    from . import optim

    names: list[str] = []
    records: list[dict[str, Any]] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep.dist, "name", None) or "an installed package"
        where = f"entry point {ep.name} = {ep.value} of {dist} (group {ENTRY_POINT_GROUP})"
        before = set(_registered())
        try:
            obj = ep.load()
            if (isinstance(obj, type) and issubclass(obj, optim.Optimizer)
                    and obj not in {e.cls for e in optim.entries()}):
                optim.register(obj, name=ep.name)
        except (Exception, SystemExit) as e:
            _unregister([*names, *(n for n in _registered() if n not in before)])  # all or none
            raise InputError(f"{where}: loading it raised {_one_line(e)}; fix or uninstall "
                             f"{dist}") from None
        added = [n for n in _registered() if n not in before]
        if not added and ep.name.lower() not in _registered():
            _unregister(names)
            raise InputError(f"{where} registered no optimizer: name a class, or a module "
                             "that registers its classes with @optim.register")
        names += added
        records.append({"entry_point": f"{ep.name} = {ep.value}", "distribution": dist,
                        "version": getattr(ep.dist, "version", None), "optimizers": added})
    _ENTRY_POINT_RECORDS[:] = records
    _ENTRY_POINT_NAMES = names
    return list(names)


def unload_entry_points() -> None:
    """Unregister what :func:`load_entry_points` registered; the next call loads again."""
    global _ENTRY_POINT_NAMES
    _unregister(_ENTRY_POINT_NAMES or ())
    _ENTRY_POINT_NAMES = None
    _ENTRY_POINT_RECORDS.clear()


def entry_point_records() -> list[dict[str, Any]]:
    """The loaded entry points as manifests record them (``installed_plugins``): the entry
    point, its distribution and version, the names it registered. Installed code, so
    ``rerun`` loads it as any command does; the record says which version made a run."""
    return [dict(r) for r in _ENTRY_POINT_RECORDS]


__all__ = ["ENTRY_POINT_GROUP", "Plugin", "active", "check_records", "entry_point_records",
           "file_sha256", "load", "load_entry_points", "loaded", "match_records",
           "read_source", "source_of", "unload", "unload_entry_points"]
