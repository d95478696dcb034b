"""Adam-mini: Adam with one second moment per block (head, row or array), blocks by name."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from .adam import AdamFamily
from .hyperparams import Count
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square
from .references import Reference
from .registry import register
from .tree import flatten_params, show

#: The authors' keywords (adam-mini 1.1.1), by the block each parameter name is cut into: the
#: first role whose keyword is a substring of the lower-cased name wins, in this order.
KEYWORDS: dict[str, tuple[str, ...]] = {
    # bias terms: plain Adam, one v per element
    "adam": ("bias",),
    # queries and keys: one v per attention head (dim·dim/n_heads elements)
    "head": ("k_proj", "q_proj", "wq", "wk", "query", "key"),
    # embeddings, outputs (one per token), values, attention projections, MLPs (one per
    # neuron): one v per row of the matrix
    "row": ("embed", "embd", "wte", "lm_head", "output", "final_layer", "v_proj", "wv",
            "value", "o_proj", "wo", "attn.proj", "feed_forward", "linear", "mlp"),
}
#: Names that take no weight decay (the authors': norms — "norm", "ln" — and biases).
NO_DECAY = ("norm", "ln", "bias")
#: The state slot of v that each block keeps (the slot names say which block a state is).
V_SLOT = {"adam": "v", "head": "v_head", "row": "v_row", "array": "v_array"}


def torch_name(path: str) -> str:
    """The name a path matches keywords as: lower-cased, ``/`` read as ``.`` (the separator
    of torch's ``named_parameters``), so ``"layers/0/attn/proj/weight"`` is matched as
    ``"layers.0.attn.proj.weight"``."""
    return path.lower().replace("/", ".")


@register
class AdamMini(AdamFamily):
    r"""Adam-mini (Zhang, Chen, Li, Zhang, Ding, Sun, Ye & Luo, "Adam-mini: Use Fewer
    Learning Rates To Gain More", arXiv:2406.16793, 2024), the authors' ``adam-mini`` 1.1.1.

    Adam with one second moment per *block* of a parameter instead of one per element: the
    mean of :math:`g^2` over the block replaces :math:`g^2`. For a block :math:`B`:

    .. math::
        v_{B,t} = \beta_2 v_{B,t-1} + (1 - \beta_2)\,\frac{1}{|B|}\sum_{i \in B} g_{i,t}^2,
        \qquad m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        p_t = p_{t-1}(1 - \eta\lambda) - \eta\,\frac{m_t}{1 - \beta_1^t}\Big/\Bigl(
              \frac{\sqrt{v_{B,t}}}{\sqrt{1 - \beta_2^t}} + \epsilon\Bigr)

    The blocks follow the parameter's *name* — its path, lower-cased, with ``/`` read as
    ``.`` (:func:`torch_name`: ``{"layers": {"0": {"attn": {"q_proj": w}}}}`` is
    ``layers.0.attn.q_proj``) — by the authors' keywords (:data:`KEYWORDS`), the first that
    is a substring of the name:

    * ``bias`` → plain Adam (a block per element; slot ``v``);
    * ``q_proj``, ``k_proj``, ``wq``, ``wk``, ``query``, ``key`` → one block per attention
      head of ``dim·dim/n_heads`` consecutive elements (slot ``v_head``, one per head);
    * embeddings (``embed``, ``embd``, ``wte``), outputs (``lm_head``, ``output``,
      ``final_layer``), values (``v_proj``, ``wv``, ``value``), attention projections
      (``o_proj``, ``wo``, ``attn.proj``) and MLPs (``feed_forward``, ``linear``, ``mlp``)
      → one block per row of the matrix (2-D only; slot ``v_row``);
    * anything else (norms, a model without such names, a lone array) → the whole array is
      one block (slot ``v_array``, one number).

    Names containing ``norm``, ``ln`` or ``bias`` take no weight decay (the authors' rule).
    ``opt.keywords`` (a copy of :data:`KEYWORDS`, role → tuple of keywords) may be changed
    before the first update, as the authors' ``optimizer.wqk_names.add(...)``: e.g.
    ``opt.keywords["row"] += ("fc",)``. The state's slot names record the blocks, so a
    checkpoint loads only into an optimizer that cuts the parameters the same way. (A
    :class:`~descentlab.optim.Groups` group given as settings is rebuilt from the
    constructor's arguments, with the authors' keywords: give a group with changed keywords
    as an ``AdamMini`` of its own.)
    ``dim`` and ``n_heads`` fix the head size. ``n_kv_heads`` (key/value heads, grouped-query
    attention; None: ``n_heads``) is taken and checked as the authors' is — it must divide
    ``n_heads`` — and, as in their 1.1.1, does not enter the update: a grouped key matrix
    (``n_kv_heads`` heads of rows) is cut into heads of the same dim·dim/n_heads elements.
    (So no reference cell shows it: with or without it the numbers are the same.)

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0, dim=2048,
    n_heads=32`` — the authors'. Equals ``adam_mini.Adam_mini(named_parameters, lr,
    betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, dim=dim, n_heads=n_heads)``
    on the same names, on one device. Weight decay is decoupled (always, as theirs).

    >>> params = {"norm": {"weight": np.array([3.0, 4.0])}}
    >>> opt = AdamMini(lr=0.1)
    >>> opt.update(params, {"norm": {"weight": np.array([3.0, 4.0])}})  # one v: mean g² = 12.5
    >>> opt.state["norm/weight"]["v_array"].tolist(), np.round(params["norm"]["weight"], 4)
    (0.0125, array([2.9151, 3.8869]))
    """

    name = "adam_mini"
    references = (
        Reference("adam_mini.Adam_mini", theirs={"verbose": False},
                  note="on the cells' two unnamed matrices: one block each"),
    )
    lineage = Lineage(("adam",), "one second moment per block", 2024, "Zhang et al. 2024")
    decays_in_rule = True
    by_path = True
    nonnegative_slots = tuple(V_SLOT.values())
    dim = Count(1, "the model's hidden dimension (a head has dim·dim/n_heads elements)",
                fixed_once_started=True)
    n_heads = Count(1, "attention heads (of the query and key matrices)",
                    fixed_once_started=True)
    n_kv_heads = Count(1, "key/value heads of grouped-query attention, a divisor of n_heads "
                       "(None: n_heads; checked, as the authors', and not used by the update)",
                       optional=True)
    equations: ClassVar[tuple[str, ...]] = (
        "per block B (head, row, array or element, by the parameter's name):",
        "v_B ← β2·v_B + (1 − β2)·mean_B(g²),   m ← β1·m + (1 − β1)·g",
        "p ← p·(1 − η·λ) − η/(1 − β1ᵗ)·m/(√v_B/√(1 − β2ᵗ) + ε)",
    )

    def __init__(self, lr: Any = 1e-3, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, *, dim: int = 2048, n_heads: int = 32,
                 n_kv_heads: int | None = None, maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        self.keywords = {role: tuple(words) for role, words in KEYWORDS.items()}
        super().__init__(lr, beta1, beta2, eps, weight_decay, maximize=maximize, **options)
        self.dim = dim
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``m`` and the v of the parameter's block (``v_array`` for a name that matches no
        keyword: what :meth:`slot_shapes` gives without a name)."""
        return ("m", "v_array")

    def check_settings(self, values: dict[str, Any]) -> None:
        if values.get("decoupled_weight_decay") is False:
            raise InputError("adam_mini always decouples its weight decay (the authors' "
                             "p ← p(1 − ηλ)): decoupled_weight_decay=False does not apply")
        dim, heads = values.get("dim"), values.get("n_heads")
        if dim is not None and heads is not None and (dim * dim) % heads:
            raise InputError(f"n_heads={heads} must divide dim·dim = {dim * dim} (a head "
                             "holds dim·dim/n_heads elements of a query or key matrix)")
        kv = values.get("n_kv_heads")
        if kv is not None and heads is not None and heads % kv:
            raise InputError(f"n_kv_heads={kv} must divide n_heads={heads} (each key/value "
                             "head serves n_heads/n_kv_heads query heads)")

    def role(self, path: str) -> str:
        """The block ``"adam"``, ``"head"``, ``"row"`` or ``"array"`` of the parameter at
        ``path`` (by :attr:`keywords`)."""
        name = torch_name(path)
        for role, words in self.keywords.items():
            if any(w in name for w in words):
                return role
        return "array"

    def slot_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """A parameter without a name (or one matching no keyword): one v for the array."""
        return {"m": shape, "v_array": ()}

    def slot_shapes_at(self, path: str, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        role = self.role(path)
        if role == "adam":
            return {"m": shape, "v": shape}
        if role == "head":
            return {"m": shape, "v_head": (int(np.prod(shape)) // self.head_size, 1)}
        if role == "row":
            return {"m": shape, "v_row": (shape[0], 1)}
        return self.slot_shapes(shape)

    @property
    def head_size(self) -> int:
        """Elements of one attention head: dim·dim/n_heads."""
        return self.dim * self.dim // self.n_heads

    def update(self, params: Any, grads: Any) -> None:
        for leaf in flatten_params(params):  # what the blocks need, before anything changes
            role, shape = self.role(leaf.path), np.shape(leaf.array)
            state = self.state.get(leaf.path)
            if state and V_SLOT[role] not in state:
                raise InputError(
                    f"Adam-mini's blocks of {show(leaf.path)} changed after its first update "
                    f"(its state has {', '.join(state)}; opt.keywords now make it a "
                    f"{role!r} block): change keywords before the first update only")
            if role == "row" and len(shape) != 2:
                raise InputError(
                    f"Adam-mini cuts {show(leaf.path)} (named like an embedding, output, value, "
                    f"projection or MLP matrix) into rows, and it has shape {shape}, not a "
                    "matrix; rename it or change opt.keywords['row']")
            if role == "head" and int(np.prod(shape)) % self.head_size:
                raise InputError(
                    f"Adam-mini cuts {show(leaf.path)} (named like a query or key) into heads "
                    f"of dim·dim/n_heads = {self.head_size} elements, and it has "
                    f"{int(np.prod(shape))}; set dim and n_heads to the model's")
        super().update(params, grads)

    def hyper_at(self, path: str, h: Any) -> Any:
        name = torch_name(path)
        if any(w in name for w in NO_DECAY) and np.any(h.weight_decay != 0):
            return SimpleNamespace(**{**vars(h), "weight_decay": 0.0})
        return h

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = state["m"]
        if "v" in state:  # a bias: Adam
            v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
            self.decay(p, h)
            ema(m, g, h.beta1)  # m = β1·m + (1 − β1)·g
            p -= (h.lr / bias_correction(h.beta1, h.t)) * (m / self.denominator(v, h))
            return
        if "v_array" in state:  # the whole array, one v (decay and m come first there)
            self.decay(p, h)
            ema(m, g, h.beta1)
            v = state["v_array"]
            v *= h.beta2
            v += (1 - h.beta2) * (np.sum(g * g) / g.size)
            scale = (1 / bias_correction(h.beta1, h.t)) / self.denominator(v, h)
            p -= (m * scale) * h.lr
            return
        v = state["v_head"] if "v_head" in state else state["v_row"]
        blocks = g.reshape(v.shape[0], -1)  # one row per head, or the matrix's rows
        v *= h.beta2
        v += (1 - h.beta2) * np.mean(blocks * blocks, axis=1, keepdims=True)
        self.decay(p, h)
        ema(m, g, h.beta1)
        scale = (1 / bias_correction(h.beta1, h.t)) / self.denominator(v, h)
        p -= ((m.reshape(blocks.shape) * scale) * h.lr).reshape(p.shape)

    @staticmethod
    def denominator(v: np.ndarray, h: Any) -> np.ndarray:
        """√v/√(1 − β2ᵗ) + ε."""
        return np.sqrt(v) / np.sqrt(bias_correction(h.beta2, h.t)) + h.eps

    @staticmethod
    def decay(p: np.ndarray, h: Any) -> None:
        """p ← p(1 − ηλ) (where λ ≠ 0)."""
        if np.any(h.weight_decay != 0):
            p *= 1 - h.lr * h.weight_decay
