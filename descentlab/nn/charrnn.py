"""A character-level language model: embedding → recurrent layer (tanh) → affine → softmax
cross-entropy at every step, predicting each next character.

Batches are (N, T) integer arrays, sample-major as a data loader yields them: ``x`` the
characters, ``t`` the same text shifted by one. Inside, the sequence runs time-major (T, N)
(:mod:`.sequence`). Initialisation (seeded): embedding N(0, 1) (``torch.nn.Embedding``),
Wx N(0, 1/D), Wh N(0, 1/H), output weights N(0, 1/H), zero biases. The loss is the mean
cross-entropy per character in nats (÷ ln 2 for bits per character).

>>> import numpy as np
>>> net = CharRNN(vocab_size=5, embed_size=3, hidden_size=4, seed=0, dtype=np.float64)
>>> sorted(net.params)
['E', 'Wh', 'Wo', 'Wx', 'b', 'bo']
>>> x = np.array([[0, 1, 2], [3, 4, 0]]); t = np.array([[1, 2, 3], [4, 0, 1]])
>>> grads = net.gradient(x, t)
>>> num = net.numerical_gradient(x, t)
>>> all(np.allclose(grads[k], num[k], atol=1e-7) for k in net.params)
True
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from ..errors import InputError
from .layernet import LayerNet
from .sequence import RNN, Embedding, TimeAffine, TimeSoftmaxWithLoss


class CharRNN(LayerNet):
    """Embedding(V, D) → RNN(D, H) → TimeAffine(H, V) → TimeSoftmaxWithLoss.

    Args:
        vocab_size: characters in the alphabet (V).
        embed_size: embedding width D (default 32).
        hidden_size: recurrent units H (default 128).
        dtype: float32 (default) or float64.
        seed: seed of the initialisation.
    """

    def __init__(self, vocab_size: int, embed_size: int = 32, hidden_size: int = 128,
                 dtype: Any = np.float32, seed: int | None = None) -> None:
        super().__init__(dtype)
        for name, v in (("vocab_size", vocab_size), ("embed_size", embed_size),
                        ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        V, D, H = int(vocab_size), int(embed_size), int(hidden_size)
        self.vocab_size = V
        self._declare({"E": (V, D), "Wx": (D, H), "Wh": (H, H), "b": (H,),
                       "Wo": (H, V), "bo": (V,)})
        rng = np.random.default_rng(seed)
        for key, std in (("E", 1.0), ("Wx", D ** -0.5), ("Wh", H ** -0.5), ("Wo", H ** -0.5)):
            self.params[key] = (std * rng.standard_normal(self.params[key].shape)
                                ).astype(self.dtype)
        p = self.params
        self.layers = OrderedDict(
            Embedding=self._bind(Embedding(p["E"]), W="E"),
            RNN=self._bind(RNN(p["Wx"], p["Wh"], p["b"]), Wx="Wx", Wh="Wh", b="b"),
            Affine=self._bind(TimeAffine(p["Wo"], p["bo"]), W="Wo", b="bo"))
        self.last_layer = TimeSoftmaxWithLoss()

    def _as_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.dtype.kind not in "iu":
            raise InputError(f"CharRNN expects (N, T) integer character codes, got "
                             f"{x.shape} {x.dtype}")
        return np.ascontiguousarray(x.T)            # time-major (T, N)

    def _as_target(self, t: np.ndarray) -> np.ndarray:
        return self._as_input(t)
