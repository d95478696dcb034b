"""The character-level language model workload: :class:`~descentlab.nn.CharRNN` predicting
the next character of a text.

Corpus (offline, no download): the help texts Python ships in its standard library,
``pydoc_data.topics.topics`` (the text ``help("if")`` etc. print; ~465,000 characters of
English technical prose for Python 3.11, 103 distinct characters), concatenated in the
order of their sorted keys. It is the same text on every installation of one Python version
(a different version ships a slightly different text: :attr:`CharLMTask.corpus_sha256`
identifies it). Any other text file can be given as ``text_file``.

Splits: the first 90 % of the characters train, the next 5 % validate, the last 5 % test.
The alphabet is the set of characters in the whole text. Training batches: ``batch_size``
windows of ``seq_len + 1`` characters at random offsets of the training text
(``numpy.random.default_rng(seed)``); input the first ``seq_len``, target the next. Metrics:
``loss`` (mean cross-entropy in nats per character), ``bpc`` (bits per character) and
``accuracy`` (next character right), over the split cut into non-overlapping windows.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ...nn import CharRNN
from .base import NetTask, Target, default_target, positive_int


def python_help_text() -> str:
    """The corpus: Python's ``pydoc_data.topics`` texts in the order of their sorted keys."""
    from pydoc_data.topics import topics
    return "".join(topics[key] for key in sorted(topics))


class CharLMTask(NetTask):
    """Next-character prediction. Args: ``text_file`` (default: the Python help texts),
    ``embed_size`` (32), ``hidden_size`` (128), ``seq_len`` (64), ``batch_size`` (32),
    ``steps`` (2000), ``eval_every`` (200), ``target`` (validation ``bpc``; default from
    ``targets.json``),
    ``max_eval_chars`` (evaluate on at most this many characters of a split, 20,000)."""

    name = "charlm"
    target = default_target("charlm")
    batches_from_data = False           # windows at random offsets of the whole train text

    def __init__(self, text_file: str | Path | None = None, *, embed_size: int = 32,
                 hidden_size: int = 128, seq_len: int = 64, batch_size: int = 32,
                 steps: int = 2000, eval_every: int = 200, target: float | None = None,
                 max_eval_chars: int = 20000) -> None:
        self.embed_size = positive_int("embed_size", embed_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.seq_len = positive_int("seq_len", seq_len)
        self.batch_size = positive_int("batch_size", batch_size)
        self.steps = positive_int("steps", steps)
        self.eval_every = positive_int("eval_every", eval_every)
        self.max_eval_chars = positive_int("max_eval_chars", max_eval_chars)
        if target is not None:
            self.target = Target("bpc", float(target), "min")
        if text_file is None:
            text = python_help_text()
        else:
            path = Path(text_file)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(f"cannot read text_file {path}: {e}") from None
        n = len(text)
        if n < 20 * (self.seq_len + 1):
            raise InputError(f"the text has {n} characters: too short for seq_len "
                             f"{self.seq_len} (needs at least {20 * (self.seq_len + 1)})")
        self.corpus_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.alphabet = sorted(set(text))
        lookup = {c: i for i, c in enumerate(self.alphabet)}
        codes = np.fromiter((lookup[c] for c in text), dtype=np.int32, count=n)
        a, b = int(n * 0.9), int(n * 0.95)
        self.text = {"train": codes[:a], "valid": codes[a:b], "test": codes[b:]}
        w = self.seq_len
        data = {}
        for split, c in self.text.items():
            c = c[:min(len(c), self.max_eval_chars + 1)]
            m = (len(c) - 1) // w
            data[split] = (c[:m * w].reshape(m, w), c[1:m * w + 1].reshape(m, w))
        super().__init__(data)

    def make_net(self, seed: int) -> Any:
        return CharRNN(len(self.alphabet), self.embed_size, self.hidden_size, seed=seed)

    def train_batches(self, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        codes = self.text["train"]
        rng = np.random.default_rng(seed)
        span = np.arange(self.seq_len + 1)
        while True:
            windows = codes[rng.integers(0, len(codes) - self.seq_len, self.batch_size)[:, None]
                            + span]
            yield windows[:, :-1], windows[:, 1:]

    def metrics(self, net: Any, x: np.ndarray, t: np.ndarray) -> dict[str, float]:
        loss = correct = 0.0
        step = max(1, self.eval_batch // self.seq_len)
        for s in range(0, len(x), step):
            xb, tb = x[s:s + step], t[s:s + step]
            loss += net.loss(xb, tb) * tb.size
            correct += np.count_nonzero(net.last_layer.y.argmax(axis=-1)
                                        == tb.T.reshape(-1))      # the net is time-major
        loss /= t.size
        return {"loss": float(loss), "bpc": float(loss / math.log(2)),
                "accuracy": float(correct / t.size)}
