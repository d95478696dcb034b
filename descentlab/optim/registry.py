"""The registry of optimizers: name → class, filled by the :func:`register` decorator.

The package's own optimizers register exactly as a user's do::

    from descentlab import optim

    @optim.register
    class SignSGD(optim.Optimizer):
        '''SignSGD: the sign of the gradient (Bernstein et al. 2018).'''
        ...

Then ``optim.create("signsgd", lr=0.01)`` builds it, and every command that takes an
optimizer name takes it. The registered name is the class's own ``name`` attribute, or the
``name=`` given, or the class name in lower case. ``aliases`` names presets of the same class
(``"amsgrad"`` is ``Adam(amsgrad=True)``). Registering a name twice with a different class is
an error naming it; :func:`unregister` removes a name (tests, plugins). Each entry records
whether the class ships with descentlab (``builtin``) or is the user's.

>>> from descentlab import optim
>>> optim.create("Adam", lr=0.3).lr
0.3
>>> optim.get_class("AMSGRAD").__name__, dict(optim.entry("amsgrad").preset)
('Adam', {'amsgrad': True})
>>> optim.create("adamm")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
descentlab.errors.InputError: unknown optimizer 'adamm' (did you mean 'adam'?); ...
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, overload

from ..errors import InputError, InputTypeError
from .base import Optimizer, accepted_arguments, did_you_mean, unknown_argument

T = TypeVar("T", bound=type)

#: What a registered name looks like: it appears in specs such as ``adam:lr=0.1,beta1=0.9``.
NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Alias:
    """A named preset of a registered class: ``Alias({"amsgrad": True}, lineage=...)``.

    ``lineage`` (a :class:`descentlab.optim.lineage.Lineage`) places the alias in the lineage
    figure; without one it is drawn as a child of its class. ``summary`` is its one-sentence
    description (default: the class's summary); ``colour`` its colour in every figure
    (default: none of its own)."""

    preset: Mapping[str, Any]
    lineage: Any = None
    summary: str | None = None
    colour: str | None = None


@dataclass(frozen=True)
class Entry:
    """One registered name: its class, the preset keyword arguments of an alias, whether it
    ships with descentlab, and the alias declaration (``None`` for a class's own name)."""

    name: str
    cls: type[Optimizer]
    preset: Mapping[str, Any] = field(default_factory=dict)
    alias: Alias | None = None

    @property
    def builtin(self) -> bool:
        """Whether the class ships with descentlab: defined at the top level of one of its
        modules (a class defined in a test, a doctest or a plugin file is the user's)."""
        module = sys.modules.get(self.cls.__module__)
        return (self.cls.__module__.startswith("descentlab.") and module is not None
                and getattr(module, self.cls.__qualname__, None) is self.cls)


_ENTRIES: dict[str, Entry] = {}
#: Classes whose ``name`` attribute the registry set (and takes back on unregister).
_NAMED: set[type] = set()


def _same_class(a: type, b: type) -> bool:
    """The same class, or the same definition executed again (a module reloaded)."""
    return a is b or (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def _check_name(name: Any, cls: type) -> str:
    if not isinstance(name, str):
        raise InputTypeError(f"register({cls.__name__}): the name must be a string, not "
                             f"{name!r}")
    key = name.strip().lower()
    if not NAME.match(key):
        raise InputError(f"register({cls.__name__}): name {name!r} must be a letter followed by "
                         "letters, digits or underscores (it is written in specs such as "
                         "NAME:lr=0.1)")
    return key


def _add(entries: dict[str, Entry], new: Entry) -> None:
    old = entries.get(new.name) or _ENTRIES.get(new.name)
    if old is not None and not (_same_class(old.cls, new.cls) and old.alias == new.alias
                                and dict(old.preset) == dict(new.preset)):
        what = f"alias of {old.cls.__name__}" if old.alias is not None else old.cls.__name__
        raise InputError(f"optimizer name {new.name!r} is already registered to {what} "
                         f"({old.cls.__module__}); choose another name for "
                         f"{new.cls.__name__} or unregister({new.name!r}) first")
    entries[new.name] = new


def _register(cls: T, name: str | None, aliases: Mapping[str, Any] | None) -> T:
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise InputTypeError(f"register() takes an Optimizer subclass, not {cls!r}")
    own = None if cls in _NAMED else cls.__dict__.get("name") or None
    key = _check_name(name if name is not None else own or cls.__name__, cls)
    if own is not None and own != key:
        raise InputError(f"register({cls.__name__}, name={name!r}): the class declares "
                         f"name = {own!r}; give one name")
    for old in _ENTRIES.values():
        if old.cls is cls and old.alias is None and old.name != key:
            raise InputError(f"register({cls.__name__}): the class is already registered as "
                             f"{old.name!r}; a second name is an alias (aliases=...)")
    staged: dict[str, Entry] = {}
    _add(staged, Entry(key, cls))
    for alias_name, declared in (aliases or {}).items():
        alias = declared if isinstance(declared, Alias) else Alias(declared)
        if not isinstance(alias.preset, Mapping):
            raise InputTypeError(f"register({cls.__name__}): alias {alias_name!r} must map "
                                 f"argument names to values, not {alias.preset!r}")
        allowed = accepted_arguments(cls)
        for k in alias.preset:
            if k not in allowed:
                raise unknown_argument(cls, k)
        akey = _check_name(alias_name, cls)
        _add(staged, Entry(akey, cls, MappingProxyType(dict(alias.preset)), alias))
    if own is None:
        cls.name = key  # checkpoints and races record it
        _NAMED.add(cls)
    _ENTRIES.update(staged)  # all or nothing
    return cls


@overload
def register(cls: T, *, name: str | None = ..., aliases: Mapping[str, Any] | None = ...) -> T:
    ...


@overload
def register(cls: None = ..., *, name: str | None = ...,
             aliases: Mapping[str, Any] | None = ...) -> Callable[[T], T]:
    ...


def register(cls: Any = None, *, name: str | None = None,
             aliases: Mapping[str, Any] | None = None) -> Any:
    """Register an :class:`~descentlab.optim.Optimizer` subclass under ``name`` (default:
    its ``name`` attribute, else its class name in lower case) and its ``aliases`` (name →
    preset keyword arguments, or an :class:`Alias`). Usable as ``@register`` or
    ``@register(aliases=...)``; returns the class unchanged (a class without its own ``name``
    gets the registered one). Registering the same class again does nothing; another class
    under a taken name is an :class:`~descentlab.errors.InputError` naming it, and nothing is
    registered.

    >>> from descentlab import optim
    >>> @optim.register
    ... class Halve(optim.Optimizer):
    ...     '''Halve: p ← p − η·g/2.'''
    ...     def __init__(self, lr=0.1, **options):
    ...         super().__init__(lr, **options)
    ...     def rule(self, p, g, state, h):
    ...         p -= 0.5 * h.lr * g
    >>> optim.create("halve").name, optim.entry("halve").builtin
    ('halve', False)
    >>> optim.unregister("halve")
    """
    if cls is None:
        return lambda c: _register(c, name, aliases)
    return _register(cls, name, aliases)


def unregister(name: str) -> None:
    """Remove a registered name (a class's own name removes its aliases too)."""
    key = str(name).strip().lower()
    if key not in _ENTRIES:
        raise InputError(f"unregister: no optimizer {name!r} is registered")
    removed = _ENTRIES.pop(key)
    if removed.alias is None:
        for other in [e.name for e in _ENTRIES.values() if e.cls is removed.cls]:
            del _ENTRIES[other]
        if removed.cls in _NAMED:
            _NAMED.discard(removed.cls)
            del removed.cls.name


def available() -> list[str]:
    """The names :func:`create` accepts (aliases included), sorted."""
    return sorted(_ENTRIES)


def entries() -> list[Entry]:
    """Every registered name, in registration order."""
    return list(_ENTRIES.values())


def entry(name: str) -> Entry:
    """The registry entry of ``name`` (case-insensitive); an unknown name is an InputError
    with a did-you-mean and the list of names."""
    if not isinstance(name, str):
        raise InputTypeError(f"the optimizer name must be a string, not {name!r}")
    key = name.strip().lower()
    found = _ENTRIES.get(key)
    if found is None:
        raise unknown_optimizer(name)
    return found


def unknown_optimizer(name: str) -> InputError:
    """The error for a name that is not registered, with the closest registered name
    (:func:`descentlab.errors.closest`) and the list — the same words from the Python API,
    specs, search spaces and the command line.

    >>> str(unknown_optimizer("adma")).split(";")[0]
    "unknown optimizer 'adma' (did you mean 'adam'?)"
    """
    key = str(name).strip()
    return InputError(f"unknown optimizer {key!r}{did_you_mean(key.lower(), available())}; "
                      f"available: {', '.join(available())}")


def get_class(name: str) -> type[Optimizer]:
    """The class behind a registered name (an alias's class)."""
    return entry(name).cls


def resolve(name: str) -> tuple[type[Optimizer], dict[str, Any]]:
    """The class and the preset keyword arguments behind a registered name."""
    found = entry(name)
    return found.cls, dict(found.preset)


def create(name: str, **kwargs: Any) -> Optimizer:
    """Build an optimizer by case-insensitive name: ``create("adam", lr=0.3)``; an alias's
    preset comes first, ``kwargs`` override it."""
    cls, preset = resolve(name)
    allowed = accepted_arguments(cls)
    for k in kwargs:
        if k not in allowed:
            raise unknown_argument(cls, k)
    return cls(**{**preset, **kwargs})


def name_of(opt: Optimizer) -> str:
    """The registered name an optimizer object answers to: an alias of its class whose
    preset it matches (``Adam(amsgrad=True)`` is ``"amsgrad"``), else its class's name.

    >>> from descentlab import optim
    >>> optim.name_of(optim.Adam(amsgrad=True)), optim.name_of(optim.Adam())
    ('amsgrad', 'adam')
    """
    cls, settings = type(opt), opt.settings()

    def holds(key: str, value: Any) -> bool:
        try:
            return key in settings and bool(settings[key] == value)
        except (TypeError, ValueError):  # an array against a number
            return False

    for e in _ENTRIES.values():
        if e.cls is cls and e.alias is not None and all(holds(k, v) for k, v in e.preset.items()):
            return e.name
    return opt.name


def colour(name: str) -> str | None:
    """The colour a registered name declares for every lab figure (an alias's ``colour``,
    else its class's own ``colour`` attribute), or None (figures pick one).

    >>> from descentlab import optim
    >>> optim.colour("adam"), optim.colour("radam")
    ('#d62728', None)
    """
    found = entry(name)
    own = found.alias.colour if found.alias is not None else found.cls.__dict__.get("colour")
    return own if isinstance(own, str) else None


def search_space(name: str, *, skip: Iterable[str] = ()) -> dict[str, tuple[float, float, bool]]:
    """The default search space of a registered name, read from its class's declarations:
    hyperparameter → (low, high, log) for every :class:`~.hyperparams.Hyper` that is
    tunable, that the constructor takes and that an alias does not preset, in declaration
    order (the learning rate first), except the keys in ``skip`` (those the caller fixes or
    ranges itself). A tunable hyperparameter without a range is an InputError naming it
    (declare ``search=(low, high)`` or ``tunable=False``).

    >>> from descentlab import optim
    >>> optim.search_space("adam")
    {'lr': (0.0001, 10.0, True), 'beta1': (0.5, 0.99, False), 'beta2': (0.9, 0.9999, False)}
    """
    cls, preset = resolve(name)
    accepted, skipped = set(accepted_arguments(cls)), set(skip)
    out: dict[str, tuple[float, float, bool]] = {}
    for key in cls.hyperparameter_names():
        declared = getattr(cls, key)
        if not declared.tunable or key not in accepted or key in preset or key in skipped:
            continue
        if declared.search is None:
            raise InputError(f"{cls.__name__}.{key} is tunable but declares no search range: "
                             f"declare it as Hyper(..., search=(LOW, HIGH)), or tunable=False "
                             f"(optimizer {entry(name).name!r}, {cls.__module__})")
        out[key] = (*declared.search, bool(declared.log))
    return out


#: Words ending in a period that do not end a sentence (citations: "et al.", "J. Control").
_ABBREVIATIONS = re.compile(r"(\bal|\be\.g|\bi\.e|\bcf|\bvs|\bch|\bsec|\bEq|\bProc|\bOptim|\bMath"
                            r"|\bJ|\b[A-Z])\.$")
_ROLE = re.compile(r":(?:math|class|func|meth|data|attr|mod):`~?([^`]*)`")


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, its lines joined and reST markup removed (a period
    ending "et al." or an initial does not end it).

    >>> first_sentence('''Adam (Kingma & Ba, ICLR
    ...     2015); see :class:`Adamax`. Then ``more``.''')
    'Adam (Kingma & Ba, ICLR 2015); see Adamax.'
    >>> first_sentence("LAMB (You et al., ICLR 2020), optax's ``optax.lamb``.")
    "LAMB (You et al., ICLR 2020), optax's optax.lamb."
    """
    paragraph = inspect.cleandoc(doc or "").split("\n\n")[0]
    text = " ".join(_ROLE.sub(r"\1", paragraph).replace("``", "").split())
    words, out = text.split(" "), []
    for k, word in enumerate(words):
        out.append(word)
        following = words[k + 1] if k + 1 < len(words) else ""
        if (word.endswith(".") and not _ABBREVIATIONS.search(word)
                and (not following or following[0].isupper())):
            break
    return " ".join(out)


def summary(name: str) -> str:
    """The one-sentence description of a registered name that interfaces show: an alias's
    declared ``summary``, else the class's own ``summary`` attribute, else the first
    sentence of its docstring, else its class name.

    >>> from descentlab import optim
    >>> optim.summary("adamw")
    'AdamW (Loshchilov & Hutter, ICLR 2019): Adam with decoupled weight decay.'
    """
    found = entry(name)
    if found.alias is not None and found.alias.summary:
        return found.alias.summary
    own = found.cls.__dict__.get("summary")
    if isinstance(own, str) and own.strip():
        return " ".join(own.split())
    return first_sentence(found.cls.__doc__) or found.cls.__name__


class _View(Mapping[str, Any]):
    """A read-only live view of the registry (``optim.OPTIMIZERS``, ``optim.ALIASES``)."""

    def __init__(self, aliases: bool) -> None:
        self._aliases = aliases

    def _items(self) -> dict[str, Any]:
        if self._aliases:
            return {e.name: (e.cls, dict(e.preset)) for e in _ENTRIES.values()
                    if e.alias is not None}
        return {e.name: e.cls for e in _ENTRIES.values() if e.alias is None}

    def __getitem__(self, key: str) -> Any:
        return self._items()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return repr(self._items())


#: Name → class of every registered class (not the aliases), read-only, in registration order.
OPTIMIZERS: Mapping[str, type[Optimizer]] = _View(aliases=False)
#: Alias name → (class, preset keyword arguments), read-only.
ALIASES: Mapping[str, tuple[type[Optimizer], dict[str, Any]]] = _View(aliases=True)

__all__ = ["Alias", "Entry", "register", "unregister", "available", "entries", "entry",
           "get_class", "resolve", "create", "name_of", "colour", "search_space", "summary",
           "first_sentence", "OPTIMIZERS", "ALIASES"]
