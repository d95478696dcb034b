"""Muon: momentum, then the update orthogonalised by a Newton–Schulz iteration (matrices)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..errors import InputError
from .adam import Adam
from .base import Optimizer
from .hyperparams import (
    NONNEGATIVE,
    POSITIVE,
    UNIT,
    Choice,
    Count,
    Flag,
    Hyper,
    Number,
    Numbers,
    Option,
    form_option,
)
from .lineage import Lineage
from .moments import ACCUMULATOR_DTYPES, bias_correction, ema, lerp, store_as
from .references import Reference
from .registry import register
from .tree import flatten_params, show

#: PyTorch's quintic Newton–Schulz coefficients (a, b, c) and iteration count.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
#: optax's ``ns_coeffs="dion"`` preset: one row of (a, b, c) per iteration (Ahn et al. 2025).
DION_NS_COEFFICIENTS = ((4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377),
                        (3.7418, -5.5913, 2.3037), (2.8769, -3.1427, 1.2046),
                        (2.8366, -3.0525, 1.2012))
#: Where optax's Muon scales the matrix before its iteration (``preconditioning``).
PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
#: The ε optax's AOL and Schatten first iterations use (their own default, not Muon's eps).
_FIRST_STEP_EPS = 1e-8


def to_bfloat16(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to bfloat16 (to nearest, ties to even) and held in float32."""
    bits = np.ascontiguousarray(x, dtype=np.float32).reshape(np.shape(x)).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) & np.uint32(0xFFFF0000)
    out = rounded.view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), out)


def newton_schulz(x: np.ndarray, steps: int = NS_STEPS,
                  coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                  eps: float = 1e-7, bfloat16: bool = False,
                  preconditioning: str = "frobenius") -> np.ndarray:
    r"""The approximate orthogonalisation of a matrix (its "zeroth power" U Vᵀ, roughly):
    X ← X/max(‖X‖_F, ε), then ``steps`` times A = X Xᵀ, B = bA + cA², X ← aX + BX (on the
    wide orientation: a tall matrix is transposed first and back after). Leading axes are a
    stack of matrices, each orthogonalised on its own (batched products; each matrix gets the
    bits it gets alone, tests/test_lab_matrix_sweeps.py), ``eps`` a number or an array that
    broadcasts against the stack's norms (one per matrix).

    ``bfloat16=True`` rounds every intermediate to bfloat16 where PyTorch's Muon does, the
    norm included (PyTorch's ``norm()`` of a bfloat16 matrix is a bfloat16 number, and the
    matrix is divided by it). Matrix products accumulate in float32, in an order that is not
    PyTorch's, so now and then one rounding falls the other way and spreads: of 200 random
    float32 matrices, 26 differ from torch's result and 174 are equal bit for bit
    (tests/test_torch_optim_db.py). ``preconditioning`` other than PyTorch's ``"frobenius"``
    is optax's (:func:`optax_newton_schulz`) with ε as a floor: ``"spectral"`` divides by
    max(‖X‖₂, ε), ``"aol"`` and ``"schatten"`` rescale in the first iteration.

    >>> q = newton_schulz(np.array([[3.0, 0.0], [0.0, 0.5]]))
    >>> bool(np.all(np.abs(np.diag(q) - 1) < 0.35)), float(q[0, 1])
    (True, 0.0)
    """
    a, b, c = coefficients
    r = to_bfloat16 if bfloat16 else (lambda y: y)
    if x.ndim > 2 and preconditioning != "frobenius":  # optax's forms: one matrix at a time
        eps_k = np.broadcast_to(np.asarray(eps, dtype=float), x.shape[:-2] + (1, 1))
        return np.stack([newton_schulz(m, steps, coefficients, float(e[0, 0]), bfloat16,
                                       preconditioning)
                         for m, e in zip(x.reshape(-1, *x.shape[-2:]),
                                         eps_k.reshape(-1, 1, 1))]).reshape(x.shape)
    tall = x.shape[-2] > x.shape[-1]
    y = r(np.swapaxes(x, -1, -2) if tall else x)
    if preconditioning == "frobenius":
        norm = r(np.sqrt(np.sum(y * y, axis=(-2, -1), keepdims=True)))
        y = r(y / r(np.maximum(norm, eps)))  # torch: a bfloat16 norm, clamped
    elif preconditioning == "spectral":
        y = r(y / r(max(r(np.linalg.norm(y, 2)), eps)))
    for i in range(steps):
        gram = r(y @ np.swapaxes(y, -1, -2))
        if i == 0 and preconditioning in ("aol", "schatten"):
            y, gram = (r(z) for z in first_step_rescale(y, gram, preconditioning))
        poly = r(b * gram + c * (gram @ gram))
        y = r(a * y + poly @ y)
    return np.swapaxes(y, -1, -2) if tall else y


def first_step_rescale(y: np.ndarray, gram: np.ndarray,
                       preconditioning: str) -> tuple[np.ndarray, np.ndarray]:
    """(SX, S·A·S) of optax's AOL (S = diag(1/√max(Σⱼ|Aᵢⱼ|, 10⁻⁸))) or Schatten-4
    (S = 1/√max(‖A‖_F, 10⁻⁸)) first iteration, A = X Xᵀ."""
    if preconditioning == "aol":
        s = (1 / np.sqrt(np.maximum(np.abs(gram).sum(axis=-1), _FIRST_STEP_EPS)))[:, None]
        return y * s, gram * s * s.T
    s = 1 / np.sqrt(max(np.linalg.norm(gram), _FIRST_STEP_EPS))
    return y * s, gram * s**2


def optax_newton_schulz(x: np.ndarray, rows: list[list[float]], eps: float = 1e-8,
                        preconditioning: str = "frobenius") -> np.ndarray:
    r"""optax's orthogonalisation (``optax.contrib.orthogonalize_via_newton_schulz``): on the
    wide orientation, X ← X/(‖X‖ + ε) (Frobenius or spectral norm; AOL and Schatten rescale
    inside their first iteration instead), then for each row (a, b, c) of ``rows``:
    A = X Xᵀ, X ← aX + (bA + cA·A)X. AOL's first iteration scales rows by
    sᵢ = 1/√max(Σⱼ|Aᵢⱼ|, 10⁻⁸) (X ← SX, A ← SAS); Schatten's by s = 1/√max(‖A‖_F, 10⁻⁸).

    >>> q = optax_newton_schulz(np.array([[3.0, 0.0], [0.0, 0.5]]), [list(NS_COEFFICIENTS)] * 5)
    >>> bool(np.all(np.abs(np.diag(q) - 1) < 0.35)), float(q[0, 1])
    (True, 0.0)
    """
    tall = x.shape[0] > x.shape[1]
    y = x.T if tall else x
    if preconditioning == "frobenius":
        y = y / (np.linalg.norm(y) + eps)
    elif preconditioning == "spectral":
        y = y / (np.linalg.norm(y, 2) + eps)
    for i, (a, b, c) in enumerate(rows):
        gram = y @ y.T
        if i == 0 and preconditioning in ("aol", "schatten"):
            y, gram = first_step_rescale(y, gram, preconditioning)
        y = a * y + (b * gram + c * gram @ gram) @ y
    return y.T if tall else y


class DimensionNumbers(Option):
    """optax's ``MuonDimensionNumbers`` of a parameter, as an option: ``None`` (optax's
    default: a matrix is Muon's, anything else AdamW's), ``"adam"`` (AdamW's, whatever its
    shape) or a pair ``(reduction, output)`` of axes — each an axis or a list of them — that
    are reshaped into the matrix's (in, out) axes, the other axes a batch of matrices each
    orthogonalised on its own. Stored as ``[[reduction axes], [output axes]]`` (JSON).

    >>> class A:
    ...     dims = DimensionNumbers()
    ...     _options: dict = {}
    >>> a = A(); a.dims = (0, [1, 2]); a.dims
    [[0], [1, 2]]
    """

    kind = "dimension_numbers"

    def __init__(self, doc: str = "", *, off: str = "adam",
                 fixed_once_started: bool = False) -> None:
        super().__init__(doc, fixed_once_started=fixed_once_started)
        #: The word for "not a matrix of this rule" (Muon's: ``"adam"``; GaLore's: ``"full"``).
        self.off = off

    def validate(self, value: Any) -> list[list[int]] | str | None:
        if value is None or value == self.off:
            return value
        bad = InputError(f"{self.name} must be None, {self.off!r} or a pair (reduction axes, "
                         f"output axes) of axes or lists of axes, got {value!r}")
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__") or len(
                value) != 2:
            raise bad
        out = []
        for axes in value:
            axes = [axes] if isinstance(axes, (int, np.integer)) else axes
            if isinstance(axes, (str, bytes, Mapping)) or not hasattr(axes, "__iter__"):
                raise bad
            axes = list(axes)
            if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(
                    a, (bool, np.bool_)) for a in axes):
                raise bad
            out.append([int(a) for a in axes])
        return out


def matrix_axes(spec: list[list[int]], shape: tuple[int, ...]
                ) -> tuple[list[int], list[int], list[int]]:
    """(batch, reduction, output) axes of a parameter of ``shape`` under ``spec``
    (:class:`DimensionNumbers`' pair), negative axes counted from the end, as optax's
    ``_compute_muon_reshape``; an error when they do not fit the shape.

    >>> matrix_axes([[0], [-1]], (2, 3, 4))
    ([1], [0], [2])
    """
    ndim = len(shape)
    if ndim < 2:
        raise InputError(f"dimension_numbers {spec} make a matrix of an array of shape {shape}: "
                         "Muon needs two or more axes")
    if any(not -ndim <= a < ndim for a in spec[0] + spec[1]):
        raise InputError(f"dimension_numbers {spec} name an axis outside an array of shape "
                         f"{shape}")
    reduction, output = ([a % ndim for a in axes] for axes in spec)
    if set(reduction) & set(output):
        raise InputError(f"dimension_numbers {spec}: the reduction and output axes of an "
                         f"array of shape {shape} overlap")
    batch = sorted(set(range(ndim)) - set(reduction) - set(output))
    return batch, reduction, output


@register
class Muon(Optimizer):
    r"""Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks";
    Liu et al. 2025, "Muon is Scalable for LLM Training"), PyTorch's form; optax's with
    ``form="optax"``.

    .. math::
        B_t = \mu B_{t-1} + (1 - \mu)\, g_t, \qquad
        \tilde B_t = \begin{cases} g_t + \mu (B_t - g_t) & \text{nesterov}\\
                     B_t & \text{otherwise}\end{cases} \\
        O_t = \mathrm{NS}^{(a,b,c)}_k(\tilde B_t), \qquad
        p_t = p_{t-1}(1 - \eta\lambda) - \eta\, s(A, B)\, O_t

    (PyTorch's code averages the buffer, ``lerp``, where its docstring says B = μB + g; this
    follows the code.) NS is :func:`newton_schulz`; s is ``adjust_lr_fn``: ``"original"``
    (Keller Jordan's, default) √max(1, A/B), ``"match_rms_adamw"`` (Moonshot's) 0.2·√max(A, B),
    for a parameter of shape (A, B). Weight decay is decoupled (always, as PyTorch).

    Only 2-D parameters: like ``torch.optim.Muon`` (which refuses them at construction), an
    update with a scalar, vector or higher-dimensional leaf is an error naming it, before
    anything changes; optimize biases and embeddings with another optimizer (AdamW).

    ``ns_dtype="bfloat16"`` (default) runs the iteration in bfloat16 as PyTorch does: on
    PyTorch's own 7 Muon test configurations (``optim_db``), 50 steps of a 5×3 float64 matrix
    end within 2e-5 of torch's, relative to the distance travelled; 5 of the 7 within 1e-10
    (tests/test_torch_optim_db.py measures both).
    ``"param"`` runs it in the parameter's dtype (exact float64 arithmetic: equal to PyTorch's
    iteration done without its bfloat16 cast, to 1e-12). ``None`` (default): the form's own,
    bfloat16 for PyTorch's, the parameter's dtype for optax's.

    ``form="optax"`` is ``optax.contrib.muon``: the momentum is bias-corrected, ε is added to
    the norm, the weights are (in, out) — the scale of ``"original"`` is √max(1, B/A) —,
    and every parameter that is not a matrix gets optax's AdamW (with its Nesterov m̂ when
    ``nesterov``, Muon's ε, and ``adam_beta1``, ``adam_beta2``, ``adam_eps_root``,
    ``adam_weight_decay``, ``adam_lr``: None is η):

    .. math::
        m_t = \beta m_{t-1} + (1 - \beta) g_t, \qquad
        \hat m_t = \begin{cases}
            \frac{\beta m_t}{1 - \beta^{t+1}} + \frac{(1 - \beta) g_t}{1 - \beta^t}
            & \text{nesterov}\\ m_t/(1 - \beta^t) & \text{otherwise}\end{cases} \\
        O_t = \mathrm{NS}(\hat m_t)\ \text{(optax's: } X/(\lVert X\rVert + \epsilon)),
        \qquad \text{adaptive: } O_t \leftarrow \langle \hat m_t, O_t\rangle\, O_t \\
        p_t = p_{t-1} - \eta\,\big(s\, O_t + \lambda p_{t-1}\big), \qquad
        s = \sqrt{\max(1, B/A)}\ \text{or}\ c_{rms}\sqrt{\max(A, B)}

    optax's arguments: ``beta`` is ``momentum``, ``ns_coeffs`` is ``ns_coefficients`` (three
    numbers, or rows of three, one per iteration — at most ``ns_steps`` rows, all used, as
    optax; its ``"dion"`` preset is :data:`DION_NS_COEFFICIENTS`), ``consistent_rms=c`` is
    ``adjust_lr_fn="match_rms_adamw", consistent_rms=c`` (None: ``"original"``),
    ``preconditioning`` and ``adaptive`` are ours too (in both forms; PyTorch's:
    ``"frobenius"``, off); ``mu_dtype`` is ``mu_dtype`` (``"param"``, default: optax's
    ``mu_dtype=None`` — the parameters' dtype; ``"float32"``: Muon's and AdamW's first moments
    rounded to float32 after each step reads them, as optax casts them — the state keeps the
    parameters' dtype; PyTorch's form rounds its buffer B so too, which torch.optim.Muon
    does not offer). ``muon_weight_dimension_numbers`` is ``dimension_numbers``
    (:class:`DimensionNumbers`): ``None`` (default) is optax's — matrices are Muon's,
    everything else AdamW's —, a pair ``(reduction, output)`` (``MuonDimensionNumbers``'
    fields) makes every parameter Muon's, its reduction axes reshaped into the matrix's
    rows (fan in), its output axes into the columns (fan out, the scale's), the remaining
    axes a batch of matrices; ``"adam"`` gives a parameter AdamW. optax's tree of them (a
    spec or None per parameter) is :class:`~descentlab.optim.groups.Groups` with
    ``{"dimension_numbers": ...}`` per path (None there: ``"adam"``);
    ``weight_decay_mask`` is :class:`~descentlab.optim.groups.Groups`. optax's own
    defaults differ from PyTorch's: ``eps=1e-8, weight_decay=0``. ``form`` is chosen before
    the first update.

    Defaults: ``lr=0.001, weight_decay=0.1, momentum=0.95, nesterov=True,
    ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5`` — ``torch.optim.Muon``.
    ``form="optax"``: equal to ``optax.contrib.muon`` 0.2.8 with the options above, within
    1e-12 relative over 100 steps in float64 (tests/test_optax_forms.py).

    >>> w = np.eye(2)
    >>> Muon(lr=0.1, weight_decay=0.0, ns_dtype="param").update(w, np.diag([4.0, 1.0]))
    >>> bool(abs(w[0, 0] - w[1, 1]) < 0.07)   # orthogonalised: both directions step alike
    True
    >>> params = {"w": np.eye(2), "b": np.zeros(2)}   # optax: the vector gets AdamW
    >>> Muon(lr=0.1, weight_decay=0.0, form="optax", nesterov=False).update(
    ...     params, {"w": np.diag([4.0, 1.0]), "b": np.array([1.0, -1.0])})
    >>> params["b"].round(6).tolist()   # η·m̂/(√v̂ + ε) = 0.1·sign(g)
    [-0.1, 0.1]
    """

    name = "muon"
    lineage = Lineage(("nesterov",), "orthogonalisation (Newton–Schulz)", 2024,
                      "Jordan et al. 2024")
    references = (
        Reference("torch.optim.Muon", {"ns_dtype": "param"},
                  note="torch's iteration without its cast to bfloat16"),
        Reference("optax.contrib.muon", {"lr": 0.01, "weight_decay": 0.0, "eps": 1e-8,
                                         "form": "optax"}, {"learning_rate": 0.01}),
        Reference("optax.contrib.muon", {"lr": 0.01, "weight_decay": 0.0, "eps": 1e-8,
                                         "form": "optax", "mu_dtype": "float32"},
                  {"learning_rate": 0.01, "beta": 0.95, "mu_dtype": "float32"},
                  note="β a float64 array (a Python float: optax's β·m in float32)"),
        Reference("optax.contrib.muon", {"lr": 0.01, "weight_decay": 0.0, "eps": 1e-8,
                                         "form": "optax", "dimension_numbers": (1, 0)},
                  {"learning_rate": 0.01, "muon_weight_dimension_numbers": (1, 0)},
                  note="MuonDimensionNumbers(1, 0): every matrix read transposed"),
    )
    slots = ("buffer", "m", "v")
    option_names = ("nesterov", "ns_coefficients", "ns_steps", "adjust_lr_fn", "ns_dtype",
                    "form", "consistent_rms", "preconditioning", "adaptive", "adam_lr",
                    "mu_dtype", "dimension_numbers")
    nesterov = Flag("Nesterov's momentum B̃ = g + μ·(B − g) (torch's default)")
    adjust_lr_fn = Choice(("original", "match_rms_adamw"), "the step scale s(A, B): torch's "
                          "original √max(1, A/B), or c·√max(A, B) to match AdamW's RMS")
    ns_coefficients = Numbers(3, "the quintic Newton–Schulz coefficients (a, b, c) (optax: or "
                              "one row per iteration)", rows=True)
    ns_steps = Count(0, "Newton–Schulz iterations", maximum=99)
    ns_dtype = Choice(("param", "bfloat16"), "the Newton–Schulz arithmetic: torch's bfloat16, "
                      "or the parameters' dtype (None: the form's)", optional=True)
    form = form_option("torch.optim.Muon's rule, or optax.contrib.muon's (bias-corrected "
                       "momentum, (in, out) weights, AdamW for the rest)",
                       fixed_once_started=True)
    consistent_rms = Number(POSITIVE, "c of adjust_lr_fn='match_rms_adamw', s = c·√max(A, B) "
                            "(None: 0.2)", optional=True)
    preconditioning = Choice(PRECONDITIONINGS, "the scaling before the iteration (torch's: "
                             "frobenius; the others optax's)")
    adaptive = Flag("scale O by ⟨m̂, O⟩ (optax's adaptive)")
    adam_lr = Number(NONNEGATIVE, "optax form: AdamW's rate for non-matrices (None: η)",
                     optional=True)
    mu_dtype = Choice(ACCUMULATOR_DTYPES, "the momentum's stored values, in the parameters' "
                      "dtype or rounded to float32 (optax's mu_dtype; torch's form too)")
    dimension_numbers = DimensionNumbers("optax form: the axes reshaped into Muon's matrix "
                                         "(None: matrices as they are, the rest AdamW's; "
                                         "'adam': AdamW's)", fixed_once_started=True)
    equations = ("B ← μ·B + (1 − μ)·g,   B̃ = g + μ·(B − g) (nesterov) or B",
                 "O = NS(B̃): X ← B̃/‖B̃‖, k times X ← aX + (b·XXᵀ + c·(XXᵀ)²)X",
                 "p ← p·(1 − η·λ) − η·s(A, B)·O,   s = √max(1, A/B)")

    momentum = Hyper(NONNEGATIVE, "momentum factor μ", search=(0.8, 0.99))
    eps = Hyper(NONNEGATIVE, "ε, the smallest norm the iteration divides by", tunable=False)
    adam_beta1 = Hyper(UNIT, "optax form: AdamW's β1 for non-matrices", tunable=False)
    adam_beta2 = Hyper(UNIT, "optax form: AdamW's β2 for non-matrices", tunable=False)
    adam_eps_root = Hyper(NONNEGATIVE, "optax form: AdamW's ε̄ inside the root", tunable=False)
    adam_weight_decay = Hyper(NONNEGATIVE, "optax form: AdamW's weight decay", tunable=False)

    def __init__(self, lr: Any = 0.001, weight_decay: Any = 0.1, momentum: Any = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple[float, float, float] = (
                     NS_COEFFICIENTS), eps: Any = 1e-7, ns_steps: int = NS_STEPS,
                 adjust_lr_fn: str | None = None, *, ns_dtype: str | None = None,
                 form: str = "torch", consistent_rms: float | None = None,
                 preconditioning: str = "frobenius", adaptive: bool = False,
                 adam_beta1: Any = 0.9, adam_beta2: Any = 0.999, adam_eps_root: Any = 0.0,
                 adam_weight_decay: Any = 0.0, adam_lr: float | None = None,
                 mu_dtype: str = "param", dimension_numbers: Any = None,
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, weight_decay, maximize=maximize, **options)
        self.momentum = momentum
        self.eps = eps
        self.nesterov = nesterov
        self.ns_coefficients = ns_coefficients  # (a list: options are saved as JSON)
        self.ns_steps = ns_steps
        self.adjust_lr_fn = "original" if adjust_lr_fn is None else adjust_lr_fn
        self.ns_dtype = ns_dtype
        self.form = form
        self.consistent_rms = consistent_rms
        self.preconditioning = preconditioning
        self.adaptive = adaptive
        self.adam_beta1 = adam_beta1
        self.adam_beta2 = adam_beta2
        self.adam_eps_root = adam_eps_root
        self.adam_weight_decay = adam_weight_decay
        self.adam_lr = adam_lr
        self.mu_dtype = mu_dtype
        self.dimension_numbers = dimension_numbers

    #: optax's settings and the values that leave them off (torch's form refuses others).
    OPTAX_ONLY = {"adam_lr": None, "adam_beta1": 0.9, "adam_beta2": 0.999,
                  "adam_eps_root": 0.0, "adam_weight_decay": 0.0, "dimension_numbers": None}

    def check_settings(self, values: dict[str, Any]) -> None:
        """optax's settings need ``form="optax"``; rows of coefficients need ≤ ns_steps rows
        (as optax)."""
        rows = values.get("ns_coefficients")
        nested = rows is not None and len(rows) > 0 and isinstance(rows[0], list)
        if values.get("form") == "torch":
            for name, off in self.OPTAX_ONLY.items():
                value = values.get(name, off)
                if (value is None) != (off is None) or (
                        value is not None and np.any(np.asarray(value) != off)):
                    raise InputError(f"{name}={values[name]!r} belongs to optax's Muon: it "
                                     f"needs form='optax'")
            if nested:
                raise InputError("ns_coefficients as rows (one per iteration) needs "
                                 "form='optax'; torch.optim.Muon takes (a, b, c)")
        if values.get("form") == "optax" and values.get("ns_dtype") == "bfloat16":
            raise InputError("ns_dtype='bfloat16' is torch's arithmetic; form='optax' runs the "
                             "iteration in the parameters' dtype (ns_dtype='param' or None)")
        if values.get("consistent_rms") is not None and values.get(
                "adjust_lr_fn") != "match_rms_adamw":
            raise InputError(f"consistent_rms={values['consistent_rms']!r} scales by "
                             f"c·√max(A, B): it goes with adjust_lr_fn='match_rms_adamw'")
        if nested and "ns_steps" in values and len(rows) > values["ns_steps"]:
            raise InputError(f"ns_coefficients has {len(rows)} rows, more than ns_steps="
                             f"{values['ns_steps']} (optax refuses it too)")

    @property
    def decays_in_rule(self) -> bool:  # type: ignore[override]
        """optax's form decays inside its rule (AdamW's own decay on non-matrices)."""
        return self.form == "optax"

    def is_muons(self, shape: tuple[int, ...]) -> bool:
        """Whether a parameter of ``shape`` takes Muon's rule (in optax's form: by
        ``dimension_numbers``; the rest take AdamW's)."""
        if self.form == "torch":
            return True
        spec = self.dimension_numbers
        return len(shape) == 2 if spec is None else spec != "adam"

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if not self.is_muons(shape):
            return {"m": shape, "v": shape}
        return {"buffer": shape}

    @property
    def stacks_runs(self) -> bool:  # type: ignore[override]
        """K runs' matrices as one (K, A, B) stack (batched products) in PyTorch's form; optax's
        sends every non-matrix to AdamW, so a stack would be taken for one: a copy per run."""
        return self.form == "torch"

    def update(self, params: Any, grads: Any) -> None:
        if self.form == "optax":  # non-matrices get AdamW
            spec = self.dimension_numbers
            if spec not in (None, "adam"):  # every array is Muon's: its axes must fit
                for leaf in flatten_params(params):
                    try:
                        matrix_axes(spec, np.shape(leaf.array))
                    except InputError as e:
                        raise InputError(f"{show(leaf.path)}: {e}") from None
            super().update(params, grads)
            return
        for leaf in flatten_params(params):
            if np.ndim(leaf.array) != 2 + self.leading_runs:
                raise InputError(
                    f"Muon updates 2-D parameters only, and {show(leaf.path)} has shape "
                    f"{np.shape(leaf.array)}; optimize it with another optimizer (AdamW)")
        super().update(params, grads)

    def lr_scale(self, shape: tuple[int, ...]) -> float:
        """s(A, B) of ``adjust_lr_fn`` for a parameter of shape (A, B) (or a stack of them,
        (K, A, B)): (out, in) in PyTorch's form, (in, out) in optax's."""
        rows, cols = shape[-2:]
        if self.form == "optax" and self.dimension_numbers not in (None, "adam"):
            _, reduction, output = matrix_axes(self.dimension_numbers, shape)
            rows = math.prod(shape[a] for a in reduction)  # fan in, fan out
            cols = math.prod(shape[a] for a in output)
        if self.adjust_lr_fn == "original":
            wide = rows / cols if self.form == "torch" else cols / rows
            return max(1, wide) ** 0.5
        c = 0.2 if self.consistent_rms is None else self.consistent_rms
        return c * max(rows, cols) ** 0.5

    def bfloat16(self) -> bool:
        """Whether the iteration rounds to bfloat16 (``ns_dtype``, or the form's own)."""
        return self.ns_dtype == "bfloat16" or (self.ns_dtype is None and self.form == "torch")

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        if self.form == "optax":
            self.optax_rule(p, g, state, h)
            return
        b = lerp(state["buffer"], g, 1 - h.momentum)  # B = μB + (1 − μ)g
        direction = g + h.momentum * (b - g) if self.nesterov else b.copy()
        store_as(b, self.mu_dtype)
        o = newton_schulz(direction, self.ns_steps, self.ns_coefficients, h.eps,
                          bfloat16=self.bfloat16(), preconditioning=self.preconditioning)
        if self.adaptive:  # one ⟨B̃, O⟩ per matrix (per run of a stack)
            o = np.sum(direction * o, axis=(-2, -1), keepdims=True) * o
        p -= (h.lr * self.lr_scale(p.shape)) * o.astype(p.dtype, copy=False)

    def optax_rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        """optax.contrib.muon: matrices by the bias-corrected momentum's orthogonalisation,
        everything else by optax's AdamW (Adam's rule in its optax form)."""
        if not self.is_muons(p.shape):
            lr = h.lr if self.adam_lr is None else self.adam_lr
            adam = SimpleNamespace(lr=lr, beta1=h.adam_beta1, beta2=h.adam_beta2, eps=h.eps,
                                   eps_root=h.adam_eps_root, t=h.t)
            if np.any(h.adam_weight_decay != 0):
                p *= 1 - lr * h.adam_weight_decay
            Adam(nesterov=self.nesterov).rule(p, g, state, adam)
            store_as(state["m"], self.mu_dtype)
            return
        mu = h.momentum
        m = ema(state["buffer"], g, mu)
        bc = bias_correction(mu, h.t)
        if self.nesterov:
            m_hat = mu * (m / bias_correction(mu, h.t + 1)) + (1 - mu) * (g / bc)
        else:
            m_hat = m / bc
        store_as(m, self.mu_dtype)  # after m̂ has read it
        rows = self.ns_coefficients
        if not isinstance(rows[0], list):
            rows = [rows] * self.ns_steps
        spec = self.dimension_numbers
        if spec is None:
            o = optax_newton_schulz(m_hat, rows, h.eps, self.preconditioning)
        else:  # (batch, reduction, output) axes → a stack of (in, out) matrices, each its own
            batch, reduction, output = matrix_axes(spec, p.shape)
            order = batch + reduction + output
            sizes = [math.prod(p.shape[a] for a in axes) for axes in (batch, reduction, output)]
            stack = m_hat.transpose(order).reshape(sizes)
            o = np.stack([optax_newton_schulz(x, rows, h.eps, self.preconditioning)
                          for x in stack])
            o = o.reshape([p.shape[a] for a in order]).transpose(np.argsort(order))
        if self.adaptive:
            o = np.sum(m_hat * o) * o
        u = self.lr_scale(p.shape) * o
        if np.any(h.weight_decay != 0):
            u = u + h.weight_decay * p
        p -= h.lr * u
