"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioner (one rotation per axis)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .adam import AdamFamily
from .hyperparams import UNIT, Choice, Count, Flag, Hyper
from .kronecker import axis_statistic, cycle_products
from .lineage import Lineage
from .moments import ema, lerp
from .references import Reference
from .registry import register
from .tree import flatten_params, show

#: Why the SOAP cells limit the rotated axes: a (5, 2) gradient's 5×5 statistic has a null
#: space of dimension 3, whose basis no two eigensolvers (nor two roundings) pick alike.
_CELL_NOTE = "its torch.linalg decompositions run by NumPy; the 5-long axis unrotated"
_MERGE_NOTE = "on a (2, 3, 2, 3) array, merged to (6, 6), and a (4, 5) one"


def eigenbasis(stat: np.ndarray) -> np.ndarray:
    """The eigenvectors of a symmetric statistic, largest eigenvalue first (``eigh`` of
    L + 1e-30·I, pytorch-optimizer's, its columns reversed)."""
    _, q = np.linalg.eigh(stat + 1e-30 * np.eye(stat.shape[0], dtype=stat.dtype))
    return q[:, ::-1]


def power_step(stat: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One power iteration refreshing an eigenbasis: the columns of L·Q sorted by the
    estimated eigenvalues qᵢᵀLqᵢ (descending), orthonormalised by QR in float32 (as
    pytorch-optimizer does); returns the new basis and the order (to permute v with)."""
    product = stat @ q
    estimate = np.sum(q * product, axis=0)
    order = np.argsort(-estimate, kind="stable")
    basis, _ = np.linalg.qr(product[:, order].astype(np.float32))
    return basis.astype(stat.dtype), order


def merged_shape(shape: tuple[int, ...], limit: int) -> tuple[int, ...]:
    """pytorch-optimizer's ``merge_small_dims``: neighbouring axes multiplied together while
    the product stays ≤ ``limit`` (an axis longer than it starts a new group alone); a
    single group is returned as ``(1,)`` — the reference's, which only a one-element array
    can take (every other such array is refused by :meth:`SOAP.update`).

    >>> merged_shape((2, 3, 2, 3), 6), merged_shape((5, 2), 4), merged_shape((3, 4), 100)
    ((6, 6), (1, 5, 2), (1,))
    """
    groups, run = [], 1
    for n in shape:
        if run * n > limit:
            groups.append(run)
            run = n
        else:
            run *= n
    groups.append(run)
    return tuple(groups) if len(groups) > 1 else (1,)


#: The 4-D layouts of ``data_format``: channels-last (N, H, W, C) arrays are merged as
#: (N, C, H, W).
DATA_FORMATS = {"channels_first": (0, 1, 2, 3), "channels_last": (0, 3, 1, 2)}


@register
class SOAP(AdamFamily):
    r"""SOAP, ShampoO with Adam in the Preconditioner's eigenbasis (Vyas, Morwani, Zhao,
    Kwun, Shapira, Brandfonbrener, Janson & Kakade, "SOAP: Improving and Stabilizing Shampoo
    using Adam", arXiv:2409.11321, 2024), pytorch-optimizer's ``SOAP``.

    Per axis i of a parameter (each of a matrix's two; a vector only with
    ``precondition_1d``; none for a scalar; an axis longer than ``max_precondition_dim`` is
    left as it is), a statistic :math:`L_i` of the gradient and its eigenbasis :math:`Q_i`;
    :math:`\mathcal{Q}^\top x` rotates every axis into its basis, :math:`\mathcal{Q} x` back:

    .. math::
        L_i \leftarrow \beta_s L_i + (1 - \beta_s)\, G_{(i)} G_{(i)}^\top, \qquad
        Q_i = \mathrm{eigvecs}(L_i) \text{ (first update; it makes no step)} \\
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, (\mathcal{Q}^\top g_t)^2 \\
        p_t = p_{t-1}(1 - \eta\lambda) - \eta\,
        \frac{\sqrt{1 - \beta_2^{t-1}}}{1 - \beta_1^{t-1}}\,
        \mathcal{Q}\,\frac{\mathcal{Q}^\top m_t}{\sqrt{v_t} + \epsilon}

    then :math:`L_i` takes :math:`g_t` in, and every ``precondition_frequency`` updates
    each :math:`Q_i` is refreshed by one power iteration, :math:`Q_i \leftarrow
    \mathrm{QR}(L_i Q_i)` with its columns sorted by the estimated eigenvalues (v's entries
    permuted with them; the QR in float32, as the reference). The first update only builds
    the statistics and bases; the bias corrections count from the second (t − 1 above).
    ``correct_bias=False`` drops them; ``normalize_gradient=True`` divides the direction by
    its RMS + ε. Weight decay is decoupled, after the step (as the reference; there is no
    coupled form). ``shampoo_beta`` :math:`\beta_s` defaults to β2 (the value at
    construction; pytorch-optimizer's ``None``).

    Defaults: ``lr=0.003, beta1=0.95, beta2=0.95, eps=1e-8, weight_decay=0.01,
    precondition_frequency=10, max_precondition_dim=10000`` — pytorch-optimizer's. Equals
    ``pytorch_optimizer.SOAP(params, lr, betas=(beta1, beta2), shampoo_beta=...,
    eps=eps, weight_decay=..., precondition_frequency=..., max_precondition_dim=...,
    precondition_1d=..., correct_bias=..., normalize_gradient=..., merge_dims=...,
    data_format=...)``. ``merge_dims=True`` first multiplies neighbouring axes together while
    their product stays ≤ ``max_precondition_dim`` (:func:`merged_shape`; a 4-D array in
    ``data_format="channels_last"`` as (N, C, H, W)), and the bases are of the merged
    axes; vectors are never merged; an array the reference would merge into one axis of more
    than one element (where it fails to reshape: a vector no longer than
    ``max_precondition_dim``, or any array of at most that many elements) is refused. Its
    2-D use on a surface: the K runs' points as (1, 2) matrices, one optimizer each.

    >>> w = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> opt = SOAP(lr=0.1, weight_decay=0.0)
    >>> opt.update(w, np.diag([4.0, 1.0]))   # the first update only builds the bases
    >>> w.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> opt.update(w, np.diag([4.0, 1.0]))   # then Adam's first step, in that basis: ±η
    >>> np.round(w, 6).tolist()
    [[0.9, 0.0], [0.0, 0.9]]
    """

    name = "soap"
    references = (  # the cells' (5, 2) array: 5 > 4 stays unrotated (below)
        Reference("pytorch_optimizer.SOAP", {"max_precondition_dim": 4},
                  {"max_precondition_dim": 4}, note=_CELL_NOTE),
        Reference("pytorch_optimizer.SOAP", {"max_precondition_dim": 4,
                                             "precondition_frequency": 3, "correct_bias": False},
                  {"max_precondition_dim": 4, "precondition_frequency": 3,
                   "correct_bias": False}, note=_CELL_NOTE),
        Reference("pytorch_optimizer.SOAP", note="every axis rotated, on (3, 4) and (4, 5) "
                  "matrices: no repeated eigenvalue (its torch.linalg run by NumPy)"),
        Reference("pytorch_optimizer.SOAP", {"merge_dims": True, "max_precondition_dim": 6},
                  {"merge_dims": True, "max_precondition_dim": 6}, note=_MERGE_NOTE),
        Reference("pytorch_optimizer.SOAP", {"merge_dims": True, "max_precondition_dim": 6,
                                             "data_format": "channels_last"},
                  {"merge_dims": True, "max_precondition_dim": 6,
                   "data_format": "channels_last"}, note=_MERGE_NOTE),
    )
    lineage = Lineage(("adam", "shampoo"), "Adam in Shampoo's eigenbasis", 2024,
                      "Vyas et al. 2024")
    nonnegative_slots = ("v",)
    decays_in_rule = True
    equations: ClassVar[tuple[str, ...]] = (
        "Lᵢ ← βs·Lᵢ + (1 − βs)·G₍ᵢ₎G₍ᵢ₎ᵀ per axis,   Qᵢ = eigenvectors of Lᵢ (first update)",
        "m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·(Qᵀg)²   (Qᵀ: every axis rotated)",
        "p ← p·(1 − η·λ) − η·√(1 − β2ᵗ⁻¹)/(1 − β1ᵗ⁻¹)·Q(Qᵀm/(√v + ε))",
        "every f updates: Qᵢ ← QR(Lᵢ·Qᵢ), columns by estimated eigenvalue",
    )

    lr = AdamFamily.lr.replace(search=(1e-4, 1.0))
    beta1 = AdamFamily.beta1.replace(search=(0.5, 0.99))
    beta2 = AdamFamily.beta2.replace(search=(0.8, 0.999))
    shampoo_beta = Hyper(UNIT, "decay βs of the per-axis statistics Lᵢ (default: β2)",
                         tunable=False)
    precondition_frequency = Count(1, "updates between refreshes of the eigenbases")
    max_precondition_dim = Count(1, "the longest axis given a basis (longer: left as is)",
                                 fixed_once_started=True)
    precondition_1d = Flag("give a vector's one axis a basis too", fixed_once_started=True)
    correct_bias = Flag("Adam's bias corrections (counted from the second update)")
    normalize_gradient = Flag("divide the direction by its RMS + ε")
    merge_dims = Flag("merge neighbouring axes while their product is at most "
                      "max_precondition_dim (pytorch-optimizer's merge_dims)",
                      fixed_once_started=True)
    data_format = Choice(tuple(DATA_FORMATS), "a 4-D array's layout for merge_dims: "
                         "channels_last (N, H, W, C) merges as (N, C, H, W)",
                         fixed_once_started=True)

    def __init__(self, lr: Any = 3e-3, beta1: Any = 0.95, beta2: Any = 0.95, eps: Any = 1e-8,
                 weight_decay: Any = 0.01, *, shampoo_beta: Any = None,
                 precondition_frequency: int = 10, max_precondition_dim: int = 10000,
                 precondition_1d: bool = False, correct_bias: bool = True,
                 normalize_gradient: bool = False, merge_dims: bool = False,
                 data_format: str = "channels_first", maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.shampoo_beta = beta2 if shampoo_beta is None else shampoo_beta
        self.precondition_frequency = precondition_frequency
        self.max_precondition_dim = max_precondition_dim
        self.precondition_1d = precondition_1d
        self.correct_bias = correct_bias
        self.normalize_gradient = normalize_gradient
        self.merge_dims = merge_dims
        self.data_format = data_format

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay"):
            raise InputError("soap always decays after its step (decoupled, as "
                             "pytorch-optimizer's SOAP): decoupled_weight_decay=True does not "
                             "apply")

    def layout(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """(axis order, merged shape) the rule sees a parameter of ``shape`` in with
        ``merge_dims`` (None: as it is — also a vector's, whose statistics the reference never
        merges)."""
        if not self.merge_dims or len(shape) == 1:
            return None
        order = DATA_FORMATS[self.data_format] if len(shape) == 4 else tuple(range(len(shape)))
        return order, merged_shape(tuple(shape[i] for i in order), self.max_precondition_dim)

    def update(self, params: Any, grads: Any) -> None:
        """With ``merge_dims``, an array the reference would reshape to one merged axis of
        more than one element (it raises there) is refused, naming it, before anything
        changes."""
        if self.merge_dims:
            for leaf in flatten_params(params):
                shape = np.shape(leaf.array)
                size = int(np.prod(shape))
                merged = (size,) if len(shape) == 1 else self.layout(shape)[1]
                if size > 1 and merged == (1,) or len(shape) == 1 and 1 < size <= (
                        self.max_precondition_dim):
                    raise InputError(
                        f"merge_dims merges all of {show(leaf.path)} (shape {shape}) into one "
                        f"axis of {size} <= max_precondition_dim={self.max_precondition_dim}, "
                        f"which pytorch-optimizer's SOAP cannot reshape; lower "
                        f"max_precondition_dim or optimize it without merge_dims")
        super().update(params, grads)

    def factored_axes(self, shape: tuple[int, ...]) -> list[bool]:
        """For each axis the rule goes through, whether it has a basis (a scalar: none; a
        vector: its one axis, with ``precondition_1d``; otherwise every axis), each only
        up to ``max_precondition_dim``."""
        if len(shape) == 1 and not self.precondition_1d:
            return [False]
        return [n <= self.max_precondition_dim for n in shape]

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """``m`` and ``v`` of the parameter's shape; ``L{i}`` and ``Q{i}`` (n_i × n_i) for
        every axis i with a basis (of the merged shape with ``merge_dims``)."""
        out = {"m": shape, "v": shape}
        layout = self.layout(shape)
        axes_of = shape if layout is None else layout[1]
        for i, on in enumerate(self.factored_axes(axes_of)):
            if on:
                out[f"L{i}"] = out[f"Q{i}"] = (axes_of[i], axes_of[i])
        return out

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        layout = self.layout(p.shape)
        if layout is None:
            self.merged_rule(p, g, state, h)
            return
        order, merged = layout  # the rule on copies in the merged layout (element-wise
        permuted = tuple(p.shape[i] for i in order)  # steps: the same numbers in any)
        inverse = tuple(np.argsort(order))

        def merge(x: np.ndarray) -> np.ndarray:
            return np.transpose(x, order).reshape(merged).copy()

        work = {"p": merge(p), "m": merge(state["m"]), "v": merge(state["v"])}
        self.merged_rule(work["p"], merge(g), {**state, "m": work["m"], "v": work["v"]}, h)
        p[...] = work["p"].reshape(permuted).transpose(inverse)
        for slot in ("m", "v"):
            state[slot][...] = work[slot].reshape(permuted).transpose(inverse)

    def merged_rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        """The rule on arrays in the layout their bases are of (as they are, or merged)."""
        axes = self.factored_axes(p.shape)
        if h.t > 1:
            bases = [state[f"Q{i}"] if on else None for i, on in enumerate(axes)]
            step = h.t - 1
            step_size = h.lr
            if self.correct_bias:
                step_size = step_size * (math.sqrt(1.0 - math.pow(h.beta2, step))
                                         / (1.0 - math.pow(h.beta1, step)))
            m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
            v = lerp(state["v"], np.square(cycle_products(g, bases)), 1 - h.beta2)
            rotated = cycle_products(m, bases) / (np.sqrt(v) + h.eps)  # Qᵀm / (√v + ε)
            direction = cycle_products(rotated, [None if q is None else q.T for q in bases])
            if self.normalize_gradient:
                direction = direction / (np.sqrt(np.mean(np.square(direction))) + h.eps)
            p -= step_size * direction
            if h.weight_decay != 0:
                p *= 1 - h.weight_decay * h.lr
        for i, on in enumerate(axes):
            if on:  # Lᵢ = βs·Lᵢ + (1 − βs)·G₍ᵢ₎G₍ᵢ₎ᵀ
                lerp(state[f"L{i}"], axis_statistic(g, i), 1 - h.shampoo_beta)
        if h.t == 1:
            for i, on in enumerate(axes):
                if on:
                    state[f"Q{i}"][...] = eigenbasis(state[f"L{i}"])
        elif (h.t - 1) % self.precondition_frequency == 0:
            v = state["v"]
            for i, on in enumerate(axes):
                if on:
                    state[f"Q{i}"][...], order = power_step(state[f"L{i}"], state[f"Q{i}"])
                    v[...] = np.take(v, order, axis=i)

