"""Adam, AdamW and AMSGrad: momentum on the gradient, RMS scaling, bias correction."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .base import Optimizer
from .hyperparams import NONNEGATIVE, POSITIVE, UNIT, Choice, Flag, Hyper
from .lineage import Lineage
from .moments import bias_correction, ema, ema_square, power
from .references import Reference
from .registry import Alias, register


def _nonzero(x: Any) -> bool:
    return x != 0 if isinstance(x, float) else bool(np.any(x != 0))


class AdamFamily(Optimizer):
    """The hyperparameters every Adam-like rule declares once: β1, β2 and ε.

    Subclasses (Adam, NAdam, Adamax, RAdam) pass them to ``__init__`` and add their own.
    """

    beta1 = Hyper(UNIT, "decay β1 of the first moment", search=(0.5, 0.99))
    beta2 = Hyper(UNIT, "decay β2 of the second moment", search=(0.9, 0.9999))
    eps = Hyper(POSITIVE, "ε of the denominator", tunable=False)

    def __init__(self, lr: Any, beta1: Any, beta2: Any, eps: Any, weight_decay: Any = 0.0,
                 **options: Any) -> None:
        super().__init__(lr, weight_decay, **options)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps


#: AMSGrad is Adam with ``amsgrad=True``: an alias with its own lineage row and summary.
AMSGRAD = Alias({"amsgrad": True},
                lineage=Lineage(("adam",), "running max of v", 2018, "Reddi et al. 2018"),
                summary="AMSGrad (Reddi, Kale & Kumar, ICLR 2018): Adam with the running "
                        "maximum of v in the denominator.",
                colour="#bcbd22")


@register(aliases={"amsgrad": AMSGRAD})
class Adam(AdamFamily):
    r"""Adam (Kingma & Ba, ICLR 2015); AMSGrad (Reddi, Kale & Kumar, ICLR 2018).

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t},
        \qquad p_t = p_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    AMSGrad replaces :math:`v_t` by its running maximum :math:`v^{max}_t` (of the raw
    :math:`v_t`, PyTorch and Keras; ``amsgrad_on="v_hat"`` takes the maximum of
    :math:`\hat v_t` instead, as optax does).

    Where ε goes (``eps_mode``):

    * ``"outside"`` (default, PyTorch and optax): :math:`\sqrt{\hat v_t} + \epsilon`;
    * ``"uncorrected"`` (Keras and the classic textbook code): the bias correction moves into
      the step size, :math:`\alpha_t = \eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)`,
      :math:`p_t = p_{t-1} - \alpha_t\, m_t / (\sqrt{v_t} + \epsilon)`;
    * ``"inside"`` (some course notes): :math:`\sqrt{\hat v_t + \epsilon}`.

    optax's options (with ``eps_mode="outside"``): ``eps_root`` adds
    :math:`\bar\epsilon` inside the root, :math:`\sqrt{\hat v_t + \bar\epsilon} + \epsilon`
    (also to AMSGrad's :math:`\hat v^{max}_t`); ``nesterov=True`` is optax's ``nadam``/``nadamw``
    (Dozat's form without NAdam's μ schedule): :math:`\hat m_t` becomes
    :math:`\beta_1 m_t/(1 - \beta_1^{t+1}) + (1 - \beta_1)\, g_t/(1 - \beta_1^t)`.

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8`` — ``torch.optim.Adam``.
    Keras: ``eps=1e-7, eps_mode="uncorrected"``. The first three arguments follow the classic
    code, so ``Adam(1.0, 0.5, 0.5)`` is lr = 1, β1 = β2 = 1/2.

    >>> params = {"x": 1.0, "y": 2.0}   # f(x, y) = x·y, E4 of the product brief
    >>> opt = Adam(1.0, 0.5, 0.5, eps=1e-300)
    >>> opt.update(params, {"x": params["y"], "y": params["x"]})
    >>> params
    {'x': 0.0, 'y': 1.0}
    """

    name = "adam"
    lineage = Lineage(("momentum", "rmsprop"), "bias correction", 2015, "Kingma & Ba 2015")
    references = (
        Reference("torch.optim.Adam"),
        Reference("torch.optim.Adam", {"weight_decay": 0.01, "decoupled_weight_decay": True},
                  {"weight_decay": 0.01, "decoupled_weight_decay": True}),
        Reference("torch.optim.Adam", theirs={"amsgrad": True}, name="amsgrad"),
        Reference("optax.adam", {"lr": 0.02}, {"learning_rate": 0.02}, rate="decaying"),
        Reference("optax.adam", {"lr": 0.01, "eps_root": 1e-8},
                  {"learning_rate": 0.01, "eps_root": 1e-8}),
        Reference("optax.nadam", {"lr": 0.01, "nesterov": True}, {"learning_rate": 0.01}),
        Reference("optax.amsgrad", {"lr": 0.01, "amsgrad_on": "v_hat"}, {"learning_rate": 0.01},
                  name="amsgrad"),
        Reference("keras.optimizers.Adam", {"eps": 1e-7, "eps_mode": "uncorrected"}),
        Reference("keras.optimizers.Adam",
                  {"weight_decay": 0.1, "decoupled_weight_decay": True, "eps": 1e-7,
                   "eps_mode": "uncorrected"}, {"weight_decay": 0.1}),
        Reference("keras.optimizers.Adam",
                  {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7, "eps_mode": "uncorrected"},
                  {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99}, rate="decaying"),
        Reference("keras.optimizers.Adam",
                  {"lr": 0.1, "eps": 1e-7, "eps_mode": "uncorrected", "clip_norm": 1.5,
                   "clip_eps": 0.0},
                  {"learning_rate": 0.1, "clipnorm": 1.5}),
        Reference("keras.optimizers.Adam",
                  {"lr": 0.01, "beta2": 0.99, "eps": 1e-7, "eps_mode": "uncorrected"},
                  {"learning_rate": 0.01, "beta_2": 0.99, "amsgrad": True}, name="amsgrad"),
    )
    colour = "#d62728"  # in every lab figure (viz.style.PALETTE)
    amsgrad = Flag("use the running maximum of v (AMSGrad)")
    amsgrad_on = Choice(("v", "v_hat"), "the maximum of the raw v (PyTorch, Keras) or of v̂ "
                        "(optax)", fixed_once_started=True)
    eps_mode = Choice(("outside", "uncorrected", "inside"), "where ε goes")
    nesterov = Flag("Nesterov's m̂ (optax's nadam/nadamw)")
    equations = ("m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²",
                 "m̂ = m / (1 − β1ᵗ),   v̂ = v / (1 − β2ᵗ)",
                 "p ← p − η·m̂ / (√v̂ + ε)",
                 "amsgrad: v replaced by v_max ← max(v_max, v)",
                 "optax: eps_root → √(v̂ + ε_root) + ε; nesterov: "
                 "m̂ = β1·m/(1 − β1ᵗ⁺¹) + (1 − β1)·g/(1 − β1ᵗ)")
    elementwise = True
    kernel = "adam"

    eps_root = Hyper(NONNEGATIVE, "ε inside the square root (optax)", tunable=False)

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.0, amsgrad: bool = False, *, amsgrad_on: str = "v",
                 eps_mode: str = "outside", eps_root: Any = 0.0, nesterov: bool = False,
                 decoupled_weight_decay: bool = False, maximize: bool = False,
                 **options: Any) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                         **options)
        self.amsgrad = amsgrad
        self.amsgrad_on = amsgrad_on
        self.eps_mode = eps_mode
        self.eps_root = eps_root
        self.nesterov = nesterov

    def check_settings(self, values: dict[str, Any]) -> None:
        """optax's Nesterov form and ε inside the root go with PyTorch's ε placement only."""
        if values.get("nesterov") and (values.get("amsgrad")
                                       or values.get("eps_mode") != "outside"):
            raise InputError("nesterov=True (optax's nadam) needs eps_mode='outside' and no "
                             f"amsgrad, got eps_mode={values.get('eps_mode')!r}, "
                             f"amsgrad={values.get('amsgrad')!r}")
        eps_root = values.get("eps_root")
        if values.get("eps_mode") != "outside" and eps_root is not None and np.any(
                np.asarray(eps_root) != 0):
            raise InputError(f"eps_root (optax's) goes with eps_mode='outside', not "
                             f"{values.get('eps_mode')!r}")

    nonnegative_slots = ("v", "v_max")

    @property
    def slots(self) -> tuple[str, ...]:  # type: ignore[override]
        """``m``, ``v`` and, with AMSGrad, ``v_max`` (turned on mid-run, it starts at zero,
        so its first maximum is v; turned off, it goes)."""
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def _optax_form(self, h: Any) -> bool:
        """ε̄ inside the root or Nesterov's m̂: optax's arithmetic (else PyTorch's)."""
        return self.nesterov or _nonzero(h.eps_root)

    def derived(self, state: dict, h: Any) -> dict[str, Any]:
        v = state["v_max"] if self.amsgrad and self.amsgrad_on == "v" else state["v"]
        return {"m̂": state["m"] / (1 - h.beta1**h.t), "v̂": v / (1 - h.beta2**h.t)}

    def rule(self, p: np.ndarray, g: np.ndarray, state: dict, h: Any) -> None:
        m = ema(state["m"], g, h.beta1)  # m = β1·m + (1 − β1)·g
        v = ema_square(state["v"], g, h.beta2)  # v = β2·v + (1 − β2)·g²
        bc1 = bias_correction(h.beta1, h.t)
        bc2 = bias_correction(h.beta2, h.t)
        if self.amsgrad and self.amsgrad_on == "v_hat":  # optax: max over v̂
            np.maximum(state["v_max"], v / bc2, out=state["v_max"])
            root = np.sqrt(state["v_max"] + h.eps_root) if _nonzero(h.eps_root) else np.sqrt(
                state["v_max"])
            p -= (h.lr / bc1) * (m / (root + h.eps))
            return
        if self._optax_form(h):  # optax: m̂/(√(v̂ + ε̄) + ε), m̂ Nesterov's with nesterov=True
            if self.nesterov:
                m_hat = (h.beta1 / bias_correction(h.beta1, h.t + 1)) * m + (
                    (1 - h.beta1) / bc1) * g
            else:
                m_hat = m / bc1
            p -= h.lr * (m_hat / (np.sqrt(v / bc2 + h.eps_root) + h.eps))
            return
        if self.amsgrad:  # PyTorch, Keras: max over the raw v
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        if self.eps_mode == "outside":  # p −= η·m̂/(√v̂ + ε)
            p -= (h.lr / bc1) * (m / (np.sqrt(v) / power(bc2, 0.5) + h.eps))
        elif self.eps_mode == "uncorrected":  # α = η√(1 − β2ᵗ)/(1 − β1ᵗ); p −= α·m/(√v + ε)
            p -= (h.lr * power(bc2, 0.5) / bc1) * (m / (np.sqrt(v) + h.eps))
        else:  # p −= η·m̂/√(v̂ + ε)
            p -= (h.lr / bc1) * (m / np.sqrt(v / bc2 + h.eps))


@register
class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, ICLR 2019): Adam with decoupled weight decay.

    .. math:: p \leftarrow p\,(1 - \eta\lambda) \quad\text{then the Adam step of}\ :class:`Adam`

    Defaults: ``lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01`` —
    ``torch.optim.AdamW``.
    """

    name = "adamw"
    lineage = Lineage(("adam",), "decoupled weight decay", 2019, "Loshchilov & Hutter 2019")
    references = (
        Reference("torch.optim.AdamW"),
        Reference("torch.optim.AdamW", {"amsgrad": True}, {"amsgrad": True}),
        Reference("optax.adamw", {"lr": 0.01, "weight_decay": 1e-4}, {"learning_rate": 0.01}),
        Reference("optax.adamw", {"lr": 0.01, "weight_decay": 0.5},
                  {"learning_rate": 0.01, "weight_decay": 0.5}),
        Reference("optax.nadamw", {"lr": 0.01, "weight_decay": 1e-4, "nesterov": True},
                  {"learning_rate": 0.01}),
        Reference("keras.optimizers.AdamW",
                  {"weight_decay": 0.004, "eps": 1e-7, "eps_mode": "uncorrected"}),
        Reference("keras.optimizers.AdamW",
                  {"lr": 0.01, "weight_decay": 0.5, "eps": 1e-7, "eps_mode": "uncorrected"},
                  {"learning_rate": 0.01, "weight_decay": 0.5}),
    )
    colour = "#17becf"  # in every lab figure (viz.style.PALETTE)
    equations = ("p ← p·(1 − η·λ)", "then the Adam step")

    def __init__(self, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-8,
                 weight_decay: Any = 0.01, amsgrad: bool = False, *, amsgrad_on: str = "v",
                 eps_mode: str = "outside", eps_root: Any = 0.0, nesterov: bool = False,
                 maximize: bool = False, **options: Any) -> None:
        options.setdefault("decoupled_weight_decay", True)
        super().__init__(lr, beta1, beta2, eps, weight_decay, amsgrad, amsgrad_on=amsgrad_on,
                         eps_mode=eps_mode, eps_root=eps_root, nesterov=nesterov,
                         maximize=maximize, **options)
