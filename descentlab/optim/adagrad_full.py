"""Full-matrix AdaGrad: the preconditioner of the paper, G_t = Σ g gᵀ, not only its diagonal."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import InputError, LimitError
from .adagrad import AdaGrad
from .checks import check_no_overlap, check_structure, seen_of, skip_nonfinite
from .lineage import Lineage
from .registry import register
from .tree import flatten_grads, flatten_params

#: Eigenvalues λ ≤ _NOISE_EPS · n · ε_mach · max λ are rounding noise: eigh returns the zero
#: eigenvalues of a singular G (the first step's G = g gᵀ has rank 1) as ±1e-16·‖G‖, and the
#: gradient's components along their eigenvectors are noise of the same order, which
#: 1/(√λ + ε) would blow up (to 1e-6 of the step with ε = 1e-10, measured).
_NOISE_EPS = 1.0


def inverse_root_times(G: np.ndarray, g: np.ndarray, eps: float, inside: bool) -> np.ndarray:
    """``(εI + G^{1/2})^{-1} g`` (``inside=False``) or ``(G + εI)^{-1/2} g`` for a symmetric
    positive semi-definite ``G`` (n × n) and a vector ``g`` (n), through the eigendecomposition
    ``G = V diag(λ) Vᵀ`` (``numpy.linalg.eigh``): ``V (f(λ) ⊙ Vᵀg)`` with
    ``f(λ) = 1/(√λ + ε)`` or ``1/√(λ + ε)``.

    Eigenvalues ``λ ≤ n·ε_mach·max(λ)`` (``ε_mach`` of G's dtype) count as 0, and g's
    components along them are dropped: they are rounding noise (see :data:`_NOISE_EPS`).
    In exact arithmetic g's component c along a unit eigenvector satisfies c² ≤ λ (G holds
    g gᵀ), so what is dropped is at most √(n·ε_mach·max λ) there. A G that is not finite
    (g gᵀ overflowed) gives a direction of NaN instead of an exception half-way.

    >>> G = np.array([[4.0, 0.0], [0.0, 0.0]])        # rank 1: √G = diag(2, 0)
    >>> inverse_root_times(G, np.array([2.0, 0.0]), 0.0, inside=False).tolist()
    [1.0, 0.0]
    """
    if not np.all(np.isfinite(G)):
        return np.full(g.shape, np.nan, dtype=G.dtype)
    if g.size == 0:
        return g.copy()
    lam, V = np.linalg.eigh(G)
    noise = _NOISE_EPS * g.size * np.finfo(G.dtype).eps * lam[-1]
    keep = lam > noise
    lam, V = lam[keep], V[:, keep]
    f = 1 / np.sqrt(lam + eps) if inside else 1 / (np.sqrt(lam) + eps)
    return V @ (f * (V.T @ g))


@register
class AdaGradFull(AdaGrad):
    r"""AdaGrad with the full matrix (Duchi, Hazan & Singer, JMLR 2011: their full-matrix
    update, regularised as :math:`\delta I + G_t^{1/2}`).

    All parameters are one vector (its n elements, the leaves in tree order):

    .. math::
        G_t = G_{t-1} + g_t g_t^\top \quad (G_0 = 0), \qquad
        H_t = G_t + h_0 I, \qquad
        \eta_t = \frac{\eta}{1 + (t - 1)\,\text{lr\_decay}} \\
        p_t = p_{t-1} - \eta_t\,(\epsilon I + H_t^{1/2})^{-1} g_t
        \qquad\text{or, } \texttt{eps\_mode="inside"},\qquad
        p_t = p_{t-1} - \eta_t\,(H_t + \epsilon I)^{-1/2} g_t

    ``eps_mode="outside"`` (the default) is the paper's regularised form (δ = ε) and the
    matrix twin of :class:`AdaGrad`'s ``g/(√h + ε)``; ``"inside"`` is the twin of
    ``g/√(h + ε)``. :class:`AdaGrad` keeps only the diagonal of H, :math:`h = \mathrm{diag}
    (H_t)`: where every gradient so far lies along the axes (G diagonal) the two agree; where
    the surface's valleys are rotated against the axes (``rotated_bowl``) only the full
    matrix sees them. The full-matrix rule is rotation-equivariant: rotating the problem
    rotates its path (up to ε). H's inverse square root comes from an eigendecomposition
    (:func:`inverse_root_times`, ``numpy.linalg.eigh``), O(n³) per update, so the number of
    parameters is limited to :attr:`max_parameters` (1,000: an 8 MB matrix and 0.4–2 s per
    update on one core, benchmarks/adagrad_full.py; 2,000 took 5–12 s), beyond which
    ``update`` refuses with a ``LimitError`` before anything changes.

    State: ``state[path]["outer_sum"]``, the n × n matrix G_t (without h₀), where ``path`` is
    the parameter array's own (``""`` for a single root array) — or, for several parameters
    (a dict of floats or arrays), ``"[x, y]"``: their paths joined, as the one vector they
    form. Several parameters of different dtypes are updated in their common dtype. Not
    element-wise (no fused kernel, no blocks; the lab gives each run its own copy);
    ``clip_norm`` is refused for several parameters (it clips each array; use
    ``clip_global_norm``); in :class:`~descentlab.optim.Groups` each group has its own G
    (block-diagonal). A gradient whose g gᵀ overflows makes the step NaN (the lab sees a
    diverged run) rather than failing half-way. An exact trace (``trace --exact``) keeps G
    exact and falls back to floats for the step: an eigendecomposition has no exact form.

    Defaults: ``lr=0.01, eps=1e-10, initial_accumulator_value=0, lr_decay=0`` —
    :class:`AdaGrad`'s (PyTorch's; ``initial_accumulator_value`` is h₀), ε one number (it is
    added to a matrix).

    >>> params = {"x": 3.0, "y": 4.0}
    >>> opt = AdaGradFull(lr=1.0)
    >>> opt.update(params, {"x": 3.0, "y": 4.0})     # G = g gᵀ: the step is g/(‖g‖ + ε)
    >>> round(params["x"], 9), round(params["y"], 9)
    (2.4, 3.2)
    >>> opt.state["[x, y]"]["outer_sum"].tolist()
    [[9.0, 12.0], [12.0, 16.0]]
    """

    name = "adagrad_full"
    lineage = Lineage(("adagrad",), "the full matrix G^(−1/2)", 2011, "Duchi et al. 2011")
    references = ()
    slots = ("outer_sum",)
    equations = ("G ← G + g·gᵀ   (all parameters as one vector; H = G + h₀·I)",
                 "p ← p − η·(ε·I + H^½)⁻¹·g   (eps_mode='inside': (H + ε·I)^−½·g)",
                 "H^½ from eigh: H = V·diag(λ)·Vᵀ")
    elementwise = False
    kernel = None
    #: G = Σ g gᵀ is positive semi-definite, not entry-wise non-negative (off-diagonal sums
    #: may be negative); the rule drops eigenvalues at or below zero, so none gives a NaN.
    nonnegative_slots = ()
    #: The most parameters (elements of all arrays together) an update takes.
    max_parameters: ClassVar[int] = 1000

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        n = int(np.prod(shape, dtype=np.int64))
        return {"outer_sum": (n, n)}

    def initial_value(self, slot: str) -> float:
        return 0.0  # G₀ = 0; h₀·I is added in the rule

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        G = state["outer_sum"]
        v = g.reshape(-1)
        G += np.multiply.outer(v, v)  # G = G + g gᵀ
        H = G + self.initial_accumulator_value * np.eye(v.size, dtype=G.dtype)
        if H.dtype == object:  # an exact trace: G is exact, H^(-1/2) is not
            raise TypeError("H^(-1/2) comes from an eigendecomposition, which has no exact "
                            "form")
        lr_t = h.lr / (1 + (h.t - 1) * h.lr_decay)
        eps = h.eps if np.ndim(h.eps) == 0 else np.reshape(h.eps, -1)[0]  # one number
        step = inverse_root_times(H, v, eps, self.eps_mode == "inside")
        p -= lr_t * step.reshape(p.shape)

    # ---------------------------------------------------------------- all leaves as one
    def update(self, params: Any, grads: Any) -> None:
        """One update; several parameters are updated together as one vector."""
        leaves = flatten_params(params)
        n = sum(leaf.array.size for leaf in leaves)
        if n > self.max_parameters:
            raise LimitError(
                f"adagrad_full keeps an n × n matrix: {n:,} parameters are more than its "
                f"limit of {self.max_parameters:,} (AdaGradFull.max_parameters; use adagrad, "
                "its diagonal, for more)")
        eps = self._hyper["eps"]
        if isinstance(eps, np.ndarray) and eps.size != 1:
            raise InputError(f"adagrad_full's eps is added to a matrix: it must be one number, "
                             f"not an array of shape {eps.shape}")
        if len(leaves) <= 1:
            super().update(params, grads)
            return
        gs = flatten_grads(grads, leaves)
        if self.clip_norm is not None:
            raise InputError("clip_norm clips each parameter array by its own norm, but "
                             "adagrad_full updates all parameters as one vector: use "
                             "clip_global_norm")
        self._check_layout(leaves)
        dtype = np.result_type(*(leaf.array.dtype for leaf in leaves))
        path = "[" + ", ".join(leaf.path for leaf in leaves) + "]"
        with np.errstate(over="ignore"):
            x = np.concatenate([leaf.array.astype(dtype).reshape(-1) for leaf in leaves])
            gs = [np.asarray(g).astype(dtype) for g in gs]
        if skip_nonfinite(self.nonfinite, leaves, gs, self.step + 1):  # (names the leaf)
            self.skipped_steps += 1
            return
        gx = np.concatenate([g.reshape(-1) for g in gs])
        super().update({path: x}, {path: gx})  # every other check and the rule, on the vector
        start = 0
        for leaf in leaves:  # cannot fail: shapes and writability were checked
            size = leaf.array.size
            leaf.array[...] = x[start:start + size].reshape(leaf.array.shape)
            leaf.write_back()
            start += size
        self._layout = seen_of(leaves)

    def settings_changed(self, name: str) -> None:
        super().settings_changed(name)
        if name == "state":  # a checkpoint was loaded: its layout is the one to check
            self._layout = None

    def _check_layout(self, leaves: list) -> None:
        """Several parameters: the same paths, shapes and dtypes as last time (the packed
        vector's state would otherwise be read for other numbers), and no two sharing
        memory (both would be written)."""
        if self.state:
            check_structure(getattr(self, "_layout", None), leaves)
        check_no_overlap(leaves)


__all__ = ["AdaGradFull", "inverse_root_times"]
