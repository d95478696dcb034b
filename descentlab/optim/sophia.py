"""Sophia: momentum divided by a clipped estimate of the Hessian's diagonal.

The estimate comes from an estimator ``estimator(oracle, rng)`` → the diagonal at the
current parameters (a tree like them; :data:`HessianEstimator`): by default Hutchinson's
ξ ⊙ Hξ (:meth:`Sophia.probe_vectors`: ±1 entries as optax's, or N(0, 1) as the paper's
``probes="gaussian"``), or a caller's — Sophia-G's Gauss-Newton-Bartlett estimator is
:func:`gauss_newton_bartlett` around the caller's gradient on sampled labels.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError, InputTypeError
from .closure import ClosureRule, Oracle, short
from .groups import matches
from .hyperparams import POSITIVE, UNIT, Choice, Count, Hyper, Number
from .lineage import Lineage
from .moments import ACCUMULATOR_DTYPES, store_as
from .references import Reference
from .registry import register
from .tree import rebuild

#: optax draws its probes from a JAX key: the cells give it ours (tests/optax_oracle.py).
_CELL_NOTE = "Hutchinson probes: ours, passed to optax"
_GAUSSIAN_NOTE = ("Hutchinson with N(0, 1) probes (the paper's): ours, passed to optax as "
                  "its hessian_diagonal_fn's")

_MU_NOTE = (_CELL_NOTE + "; b1 its default, passed as a float64 number: with optax's "
            "Python-float default JAX multiplies the float32 momentum by b1 in float32")

#: ``estimator(oracle, rng)`` → an estimate of the Hessian's diagonal at the current
#: parameters, a tree like them: Sophia's ``estimator=``. ``oracle`` is the update's
#: :class:`~descentlab.optim.closure.Oracle` (``oracle.hvp(vectors)``, ``oracle.params``);
#: ``rng`` is ``np.random.default_rng([seed, t])`` at update t, for its random draws.
HessianEstimator = Callable[[Oracle, np.random.Generator], Any]

#: Sophia's ``weight_decay_mask=``: which parameters are decayed — ``None`` (all), a
#: callable ``path -> bool`` (True: decayed), or Groups-style patterns naming the decayed ones.
WeightDecayMask = Callable[[str], bool] | str | tuple[str, ...] | list[str] | None


def _mask_patterns(value: Any) -> Callable[[str], bool] | tuple[str, ...] | None:
    """``weight_decay_mask`` as Sophia keeps it: None, the callable, or a tuple of patterns."""
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, list | tuple | set | frozenset) and all(
            isinstance(v, str) for v in value):
        return tuple(sorted(value)) if isinstance(value, set | frozenset) else tuple(value)
    raise InputTypeError(f"weight_decay_mask must be None, a function path -> bool (True: "
                         f"decayed) or patterns (strings) naming the decayed parameters, not "
                         f"{short(value)}")


def gauss_newton_bartlett(sampled_grad: Callable[[np.random.Generator], Any],
                          batch_size: int) -> HessianEstimator:
    r"""Sophia-G's estimator of the Hessian's diagonal (Gauss-Newton-Bartlett; Liu et al.
    2023, Algorithm 2): :math:`\hat h = B\,\hat g \odot \hat g`, where
    ``sampled_grad(rng)`` returns ĝ, the gradient at the current parameters of the mean loss
    over a mini-batch of ``batch_size`` = B examples whose labels ŷ are drawn (from ``rng``)
    from the model's own predicted distribution, not the data's labels. For a loss that is a
    negative log-likelihood, E[B ĝ ⊙ ĝ] is the diagonal of the Gauss-Newton matrix.

    The closure API cannot express it: a closure returns the loss and gradient on the data's
    labels, and only the model knows how to sample its own — so the caller writes that one
    function (reading the parameters as its closure does) and passes the result as Sophia's
    ``estimator=``. No reference library has it (optax has Hutchinson's only): the tests
    check the expectation against the Gauss-Newton diagonal of a softmax regression.

    >>> x = {"w": np.array([1.0, -2.0])}
    >>> est = gauss_newton_bartlett(lambda rng: {"w": np.array([0.5, -1.0])}, batch_size=4)
    >>> opt = Sophia(lr=0.1, weight_decay=0.0, estimator=est)
    >>> opt.update(x, closure=lambda: (float(x["w"] @ x["w"]), {"w": 2 * x["w"]}))
    5.0
    >>> opt.state["w"]["estimate"]                  # B·ĝ ⊙ ĝ = 4·(0.25, 1)
    array([1., 4.])
    """
    if not callable(sampled_grad):
        raise InputTypeError(f"sampled_grad must be a function rng -> gradient tree, not "
                             f"{short(sampled_grad)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
            or batch_size < 1:
        raise InputError(f"batch_size must be a whole number >= 1, got {short(batch_size)}")

    def estimator(oracle: Oracle, rng: np.random.Generator) -> Any:
        sampled = oracle.checked(sampled_grad(rng), "sampled_grad's answer",
                                 "the gradient on sampled labels")
        return rebuild(oracle.params, [batch_size * (g * g) for g in sampled])

    return estimator


@register
class Sophia(ClosureRule):
    r"""Sophia-H (Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order
    Optimizer for Language Model Pre-training", 2023, ICLR 2024; arXiv:2305.14342): optax's
    ``optax.contrib.sophia`` with its Hutchinson estimator by default. That estimator needs
    Hessian-vector products: ``update(params, closure=closure, hvp=hvp)``, ``hvp(v)`` → H·v
    at the current parameters (without ``hvp``, a central difference of the closure's
    gradient: an approximation).

    Every ``update_interval`` updates (the first included) the Hessian's diagonal is estimated
    as û = ξ ⊙ Hξ with a random vector ξ, after the step, from the parameters before it;
    with b₁ = 1 − β₁ᵗ:

    .. math::
        m = \beta_1 m + (1 - \beta_1) g, \quad
        u = \operatorname{clip}\Big(\frac{m / b_1}{\max(\gamma h,\ \epsilon)},\ \pm c\Big),
        \quad p \leftarrow p - \eta\,(u + \lambda p) \\
        h \leftarrow \beta_2 h + (1 - \beta_2)\, \hat h \quad (\text{when } (t - 1) \bmod k = 0;\
        \hat h = \xi \odot H \xi)

    ``clip_threshold=None`` does not clip. The probes come from
    ``np.random.default_rng([seed, t])`` (:meth:`probe_vectors`), so a resumed run draws the
    same ones: ``probes="rademacher"`` (default) entries ±1, optax's estimator;
    ``probes="gaussian"`` N(0, 1) entries, the paper's Sophia-H (Algorithm 1; optax's
    docstring notes the difference). optax draws its own from a JAX key (the tests give optax
    these probes to compare the two exactly: the same random probe vectors in, the same steps
    out). ``estimator=`` replaces Hutchinson's by the caller's
    :data:`HessianEstimator`, ``estimator(oracle, rng)`` → û as a tree like the parameters
    (optax's ``hessian_diagonal_fn``; its answer checked as ``hvp``'s; it must not change the
    parameters; not saved in checkpoints — give it again when loading). Sophia-G's
    Gauss-Newton-Bartlett estimator is :func:`gauss_newton_bartlett`. The latest estimate û
    is the state slot ``estimate``. ``mu_dtype="float32"`` rounds m to float32 after the step
    has read it (optax's ``mu_dtype``; the state keeps the parameters' dtype) — equal to optax
    given β₁ as a float64 number; with optax's Python-float default JAX computes β₁·m in
    float32, which is not reproduced (a difference of float32's rounding). No
    ``maximize`` or clipping of the gradient (the update itself is clipped).

    ``weight_decay_mask`` chooses the parameters that are decayed (optax's
    ``weight_decay_mask``: True = decayed; the others step ``p ← p − η·u``, optax's bits):
    ``None`` (default) all of them; a callable ``path -> bool`` of the parameter's path
    (``"layers/0/w"``; optax's mask is a tree, or a function of the parameters returning one);
    or a string or collection of Groups-style patterns (``fnmatch``, ``*`` crossing ``/``:
    :func:`~descentlab.optim.groups.matches`) naming the decayed ones — at an update, a
    pattern that matches no parameter, or a callable's answer that is not a bool, is refused
    naming ``weight_decay_mask`` before anything changes. Like ``estimator`` it is an
    attribute, neither a hyperparameter nor an option: ``settings()`` and ``repr`` do not show
    it and checkpoints do not save it (a callable cannot be) — give it again when loading.

    Defaults: ``lr=1e-3, beta1=0.965, beta2=0.99, eps=1e-8, weight_decay=1e-4,
    gamma=0.01, clip_threshold=1.0, update_interval=10, seed=0, probes="rademacher",
    estimator=None, mu_dtype="param", weight_decay_mask=None`` — optax's (optax has no
    default rate: 1e-3 is of the paper's order). Equals ``optax.contrib.sophia(lr, beta1,
    beta2, eps, weight_decay, gamma=gamma, clip_threshold=clip_threshold,
    update_interval=update_interval, weight_decay_mask=...)`` given ``obj_fn`` and the same
    probes.

    >>> x = {"w": np.array([1.0, -2.0])}         # f = ½(w₁² + 4w₂²): H = diag(1, 4)
    >>> grad = lambda: {"w": np.array([1.0, 4.0]) * x["w"]}
    >>> opt = Sophia(lr=0.1, weight_decay=0.0, gamma=1.0)
    >>> opt.update(x, closure=lambda: (0.5 * float(x["w"] ** 2 @ [1, 4]), grad()),
    ...            hvp=lambda v: {"w": np.array([1.0, 4.0]) * v["w"]})
    8.5
    >>> x["w"], opt.state["w"]["estimate"]      # h was 0: u clipped to ±1; û = diag H
    (array([ 0.9, -1.9]), array([1., 4.]))

    Decay on the weights, not the biases (h = 0: both steps clipped to −1):

    >>> q = {"w": np.array([2.0]), "b": np.array([2.0])}
    >>> opt = Sophia(lr=0.1, weight_decay=0.5, weight_decay_mask="w")
    >>> opt.update(q, closure=lambda: (0.0, {"w": np.ones(1), "b": np.ones(1)}),
    ...            hvp=lambda v: v)
    0.0
    >>> q                                   # w: 2 − 0.1·(1 + 0.5·2); b: 2 − 0.1·1
    {'w': array([1.8]), 'b': array([1.9])}
    """

    name = "sophia"
    references = (
        Reference("optax.contrib.sophia", {}, {"learning_rate": 0.001}, note=_CELL_NOTE),
        Reference("optax.contrib.sophia", {"lr": 0.01, "gamma": 1.0, "update_interval": 3},
                  {"learning_rate": 0.01, "gamma": 1.0, "update_interval": 3},
                  note=_CELL_NOTE),
        Reference("optax.contrib.sophia", {"lr": 0.01, "gamma": 1.0, "update_interval": 2,
                                           "probes": "gaussian"},
                  {"learning_rate": 0.01, "gamma": 1.0, "update_interval": 2},
                  note=_GAUSSIAN_NOTE),
        Reference("optax.contrib.sophia", {"lr": 0.01, "gamma": 1.0, "update_interval": 2,
                                           "mu_dtype": "float32"},
                  {"learning_rate": 0.01, "gamma": 1.0, "update_interval": 2,
                   "mu_dtype": "float32", "b1": 0.965}, note=_MU_NOTE),
    )
    lineage = Lineage(("adam",), "clipped Hessian-diagonal preconditioner", 2023,
                      "Liu et al. 2023")
    needs = ("loss", "hvp")
    slots = ("mu", "nu", "estimate")
    decays_in_rule = True  # p − η(u + λp): the decay after the clipped step, as optax
    by_path = True  # hyper_at: weight_decay_mask, by the parameter's path
    equations: ClassVar[tuple[str, ...]] = (
        "m ← β₁m + (1−β₁)g,   u = clip((m/(1−β₁ᵗ)) / max(γh, ε), ±c)",
        "p ← p − η·(u + λp)",
        "every k updates: h ← β₂h + (1−β₂)·û,   û = ξ ⊙ Hξ   (ξ: ±1 or N(0, 1) at random; "
        "or the estimator's û; after the step)",
    )

    lr = ClosureRule.lr.replace(search=(1e-5, 0.1))
    beta1 = Hyper(UNIT, "decay β₁ of the momentum", search=(0.5, 0.99))
    beta2 = Hyper(UNIT, "decay β₂ of the Hessian estimate", search=(0.9, 0.999))
    eps = Hyper(POSITIVE, "floor ε of γh", tunable=False)
    gamma = Hyper(POSITIVE, "scale γ of the Hessian estimate", search=(1e-3, 1.0))
    clip_threshold = Number(POSITIVE, "clip the step to [−c, c] (None: no clipping)",
                            optional=True)
    update_interval = Count(1, "estimate the Hessian every k updates", maximum=2**31 - 1)
    seed = Count(0, "seed of the probes (and of the estimator's rng)")
    probes = Choice(("rademacher", "gaussian"),
                    "Hutchinson's probes: ±1 entries (optax's) or N(0, 1) (the paper's)")
    mu_dtype = Choice(ACCUMULATOR_DTYPES, "the momentum's stored values, in the parameters' "
                      "dtype or rounded to float32 (optax's mu_dtype)")

    def __init__(self, lr: Any = 1e-3, beta1: Any = 0.965, beta2: Any = 0.99,
                 eps: Any = 1e-8, weight_decay: Any = 1e-4, gamma: Any = 0.01,
                 clip_threshold: float | None = 1.0, update_interval: int = 10, seed: int = 0,
                 probes: str = "rademacher", estimator: HessianEstimator | None = None,
                 mu_dtype: str = "param", weight_decay_mask: WeightDecayMask = None, *,
                 nonfinite: str = "raise", **options: Any) -> None:
        self.estimator = estimator
        self.weight_decay_mask = weight_decay_mask
        super().__init__(lr, weight_decay, nonfinite=nonfinite, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.gamma = gamma
        self.clip_threshold = clip_threshold
        self.update_interval = update_interval
        self.seed = seed
        self.probes = probes
        self.mu_dtype = mu_dtype

    @property
    def estimator(self) -> HessianEstimator | None:
        """The caller's estimator of the Hessian's diagonal (``None``: Hutchinson's)."""
        return self.__dict__.get("_estimator")

    @estimator.setter
    def estimator(self, value: HessianEstimator | None) -> None:
        if value is not None and not callable(value):
            raise InputTypeError(f"estimator must be a function (oracle, rng) -> the "
                                 f"Hessian's diagonal, or None, not {short(value)}")
        if value is not None and self.__dict__.get("_options", {}).get("probes",
                                                                      "rademacher") != \
                "rademacher":
            raise InputError(self._both)
        object.__setattr__(self, "_estimator", value)

    @property
    def weight_decay_mask(self) -> Callable[[str], bool] | tuple[str, ...] | None:
        """The decayed parameters: ``None`` (all), a callable ``path -> bool`` or a tuple of
        patterns (a string or a collection given is kept as a tuple)."""
        return self.__dict__.get("_weight_decay_mask")

    @weight_decay_mask.setter
    def weight_decay_mask(self, value: WeightDecayMask) -> None:
        object.__setattr__(self, "_weight_decay_mask", _mask_patterns(value))

    def undecayed(self, paths: list[str]) -> frozenset[str]:
        """The paths among ``paths`` that ``weight_decay_mask`` leaves undecayed; refuses a
        pattern matching none of them and a callable's answer that is not a bool.

        >>> Sophia(weight_decay_mask=["*w", "b"]).undecayed(["l/w", "b", "c"])
        frozenset({'c'})
        """
        mask = self.weight_decay_mask
        if mask is None:
            return frozenset()
        if callable(mask):
            out = set()
            for path in paths:
                hit = mask(path)
                if not isinstance(hit, bool | np.bool_):
                    raise InputTypeError(f"weight_decay_mask({path!r}) must return True "
                                         f"(decayed) or False, not {short(hit)}")
                if not hit:
                    out.add(path)
            return frozenset(out)
        for pattern in mask:
            if not any(matches(path, pattern) for path in paths):
                raise InputError(f"weight_decay_mask's pattern {pattern!r} matches no "
                                 f"parameter (the paths are {sorted(paths)})")
        return frozenset(p for p in paths if not any(matches(p, q) for q in mask))

    _both = ("probes chooses the draws of Sophia's own Hutchinson estimator; a custom "
             "estimator draws what it needs from its rng: give probes='rademacher' (the "
             "default) with estimator=")

    def check_settings(self, values: dict[str, Any]) -> None:
        """Refuse the shared settings Sophia has no use for, and ``probes`` other than its
        default with a custom estimator."""
        super().check_settings(values)
        if self.estimator is not None and values.get("probes", "rademacher") != "rademacher":
            raise InputError(self._both)

    def probe_vectors(self, t: int, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """The probe vectors of update ``t``, one per parameter array in order, drawn array
        by array from ``np.random.default_rng([seed, t])``: entries ±1.0 (``probes=
        "rademacher"``) or standard normal (``"gaussian"``)."""
        return self._draw(np.random.default_rng([self.seed, t]), shapes)

    def _draw(self, rng: np.random.Generator,
              shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        if self.probes == "gaussian":
            return [rng.standard_normal(shape) for shape in shapes]
        return [rng.integers(0, 2, size=shape).astype(np.float64) * 2 - 1 for shape in shapes]

    def evaluate(self, oracle: Oracle, h: Any) -> Any:
        h.undecayed = self.undecayed([leaf.path for leaf in oracle.leaves])
        value, tree, gs = oracle.value_and_grad()
        h.refresh = (h.t - 1) % self.update_interval == 0
        h.estimates = {}
        if h.refresh:
            rng = np.random.default_rng([self.seed, h.t])
            if self.estimator is None:
                probes = [u.astype(g.dtype) for u, g in zip(
                    self._draw(rng, [g.shape for g in gs]), gs)]
                estimates = [u * hu for u, hu in zip(probes, oracle.hvp(probes))]
            else:
                estimates = oracle.checked(self.estimator(oracle, rng),
                                           "Sophia's estimator's answer",
                                           "the estimate of the Hessian's diagonal")
            h.estimates = {leaf.path: e for leaf, e in zip(oracle.leaves, estimates)}
        return tree

    def begin_step(self, h: Any) -> None:
        for path, estimate in h.estimates.items():
            self.state[path]["estimate"][...] = estimate

    def hyper_at(self, path: str, h: Any) -> Any:
        """``h`` with ``decayed``: whether ``weight_decay_mask`` decays this parameter."""
        return SimpleNamespace(**vars(h), decayed=path not in h.undecayed)

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        mu, nu = state["mu"], state["nu"]
        mu[...] = (1 - h.beta1) * g + h.beta1 * mu
        u = mu / (1 - h.beta1 ** h.t) / np.maximum(h.gamma * nu, h.eps)
        if self.clip_threshold is not None:
            u = np.clip(u, -self.clip_threshold, self.clip_threshold)
        if h.decayed:
            p += (u + h.weight_decay * p) * -h.lr
        else:  # optax's masked leaf: the step as it is, no + 0·p (the signs of zeros)
            p += u * -h.lr
        store_as(mu, self.mu_dtype)  # (after u has read it, as optax casts it)
        if h.refresh:
            nu[...] = (1 - h.beta2) * state["estimate"] + h.beta2 * nu
