"""Exact numbers for hand-checkable traces: rationals and sums of simple square roots.

A :class:`Surd` is ``q0 + q1·√c1 + q2·√c2 + ...`` with rational ``q`` (``fractions.Fraction``)
and distinct square-free integers ``c > 1``. Sums, differences and products stay exact.
Division is exact by a number with at most one radical (``a + b√c``, via the conjugate), and
the square root is exact for a non-negative rational; anything else raises
:class:`NotSimple`, and the trace falls back to floating point from there on.

Exact values are bounded (:data:`MAX_DIGITS`, :data:`MAX_TERMS`): a value whose numerator or
denominator would need more than 1,000 decimal digits (e.g. ``x ← x − 0.1·3x²``, whose
digits double at every step), or that would hold more than 8 radicals, raises
:class:`TooLarge` (a NotSimple) instead of growing without end, so every operation costs a
bounded time and every value prints (Python refuses ``str`` of integers past 4,300 digits).

Surds behave as numbers inside NumPy object arrays, so an optimizer's own ``rule`` runs on
them unchanged: ``np.sqrt`` calls :meth:`Surd.sqrt`, ``np.abs`` calls ``abs``,
``np.maximum`` compares (exactly), ``x ** 0.5`` is the square root, and a Python float meets
a Surd as the decimal it is written as (``0.9`` is 9/10). Inside :func:`eps_limit` a 0/0 is
0: the limit ε → 0 of ``0 / (0 + ε)``, the only 0/0 the rules make with ε → 0.

>>> x = Surd.of(4, 3) / Surd.of(2).sqrt()
>>> str(x), str(1 - Surd.of(1, 3).sqrt())
('2*sqrt(2)/3', '1 - sqrt(3)/3')
>>> float(-x)
-0.9428090415820634
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction
from typing import Union

import numpy as np

Number = Union["Surd", int, Fraction]


class NotSimple(ArithmeticError):
    """The exact result is not a rational plus simple square roots (or is undefined)."""


#: The size budget of one exact value: the numerator and denominator of each coefficient have
#: at most this many decimal digits ...
MAX_DIGITS = 1_000
#: ... and a value holds at most this many terms (the rational part and radicals).
MAX_TERMS = 8
_TOO_LARGE = 10**MAX_DIGITS
_MAX_BITS = _TOO_LARGE.bit_length() - 1  # below 2**_MAX_BITS: at most 1,000 digits, sure


def _too_large(n: int) -> bool:
    return n.bit_length() > _MAX_BITS and abs(n) >= _TOO_LARGE


class TooLarge(NotSimple):
    """An exact value past the size budget (:data:`MAX_DIGITS`, :data:`MAX_TERMS`)."""


_ZERO_BY_ZERO = ContextVar("zero_by_zero_is_zero", default=False)


@contextmanager
def eps_limit() -> Iterator[None]:
    """Within this block ``0 / 0`` is 0 (see the module docstring); outside it, NotSimple."""
    token = _ZERO_BY_ZERO.set(True)
    try:
        yield
    finally:
        _ZERO_BY_ZERO.reset(token)


#: Trial division goes this far when taking a root; a larger cofactor that is neither a
#: perfect square nor known to be prime ends exact arithmetic (bounded work, never a hang).
_TRIAL_LIMIT = 10**5


def _squarefree(n: int) -> tuple[int, int]:
    """n = s²·r with r square-free; returns (s, r). n >= 1. Raises NotSimple when n has a
    cofactor too large to factor by trial division up to :data:`_TRIAL_LIMIT`."""
    s, r, d = 1, 1, 2
    while d * d <= n and d <= _TRIAL_LIMIT:
        while n % (d * d) == 0:
            s *= d
            n //= d * d
        if n % d == 0:
            r *= d
            n //= d
        d += 1
    if n > 1:
        root = math.isqrt(n)
        if root * root == n:
            s *= root
        elif d * d > n:  # no factor up to √n: n is prime
            r *= n
        else:
            raise NotSimple("a root of a number too large to factor")
    return s, r


class Surd:
    """An exact number ``Σ q_c·√c`` (c square-free, c = 1 the rational part)."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[int, Fraction]) -> None:
        self.terms = {c: q for c, q in terms.items() if q != 0}
        if len(self.terms) > MAX_TERMS:
            raise TooLarge(f"an exact value would hold more than {MAX_TERMS} radicals")
        for c, q in self.terms.items():
            if _too_large(q.numerator) or _too_large(q.denominator) or _too_large(c):
                raise TooLarge(f"an exact value would need more than {MAX_DIGITS:,} digits")

    @classmethod
    def of(cls, numerator: int | Fraction | str, denominator: int = 1) -> Surd:
        return cls({1: Fraction(numerator) / denominator})

    @classmethod
    def from_float(cls, value: float) -> Surd:
        """The rational the float's shortest repr denotes (``0.9`` → 9/10)."""
        if not math.isfinite(value):
            raise NotSimple(f"{value} is not finite")
        return cls({1: Fraction(repr(float(value)))})

    @staticmethod
    def lift(x: Number | float) -> Surd:
        if isinstance(x, Surd):
            return x
        if isinstance(x, float):
            return Surd.from_float(x)
        if isinstance(x, (int, Fraction)):  # bool and NumPy integers are ints here too
            return Surd({1: Fraction(x)})
        if hasattr(x, "dtype") and getattr(x, "ndim", 1) == 0:  # a NumPy scalar
            return Surd.lift(x.item())
        raise TypeError(f"cannot use {type(x).__name__} {x!r} in exact arithmetic")

    # arithmetic -----------------------------------------------------------------------
    # (An array on the other side returns NotImplemented, so NumPy applies the operation
    # element by element.)
    def __add__(self, other: Number) -> Surd:
        if isinstance(other, np.ndarray):
            return NotImplemented
        o = Surd.lift(other)
        terms = dict(self.terms)
        for c, q in o.terms.items():
            terms[c] = terms.get(c, Fraction(0)) + q
        return Surd(terms)

    __radd__ = __add__

    def __neg__(self) -> Surd:
        return Surd({c: -q for c, q in self.terms.items()})

    def __sub__(self, other: Number) -> Surd:
        if isinstance(other, np.ndarray):
            return NotImplemented
        return self + -Surd.lift(other)

    def __rsub__(self, other: Number) -> Surd:
        return Surd.lift(other) - self

    def __mul__(self, other: Number) -> Surd:
        if isinstance(other, np.ndarray):
            return NotImplemented
        o = Surd.lift(other)
        terms: dict[int, Fraction] = {}
        for c1, q1 in self.terms.items():
            for c2, q2 in o.terms.items():
                s, r = _squarefree(c1 * c2)
                terms[r] = terms.get(r, Fraction(0)) + q1 * q2 * s
        return Surd(terms)

    __rmul__ = __mul__

    def __truediv__(self, other: Number) -> Surd:
        if isinstance(other, np.ndarray):
            return NotImplemented
        o = Surd.lift(other)
        if self.is_zero() and o.is_zero() and _ZERO_BY_ZERO.get():
            return Surd({})
        return self * o.inverse()

    def __rtruediv__(self, other: Number) -> Surd:
        return Surd.lift(other) / self

    def __pow__(self, n: Number | float) -> Surd:
        """Integer powers (negative ones through :meth:`inverse`); ``** 0.5`` is the root."""
        if isinstance(n, np.ndarray):
            return NotImplemented
        e = Surd.lift(n)
        if set(e.terms) - {1}:
            raise NotSimple("a power with an irrational exponent")
        q = e.terms.get(1, Fraction(0))
        if q == Fraction(1, 2):
            return self.sqrt()
        if q.denominator != 1:
            raise NotSimple(f"the power {q} is not exact here")
        out, base, k = Surd.of(1), self, abs(q.numerator)
        while k:  # square and multiply: a huge exponent costs its bit length, or TooLarge
            if k & 1:
                out = out * base
            k >>= 1
            if k:
                base = base * base
        return out if q >= 0 else out.inverse()

    def __rpow__(self, base: Number | float) -> Surd:
        return Surd.lift(base) ** self

    def inverse(self) -> Surd:
        radicals = [c for c in self.terms if c != 1]
        if not self.terms:
            raise NotSimple("division by zero")
        if len(radicals) > 1:
            raise NotSimple("division by a sum of several square roots")
        if not radicals:
            return Surd({1: 1 / self.terms[1]})
        c = radicals[0]
        a, b = self.terms.get(1, Fraction(0)), self.terms[c]
        norm = a * a - b * b * c  # (a + b√c)(a − b√c)
        return Surd({1: a / norm, c: -b / norm})

    def sqrt(self) -> Surd:
        if not self.terms:
            return Surd({})
        if set(self.terms) != {1}:
            raise NotSimple("the square root of a number with radicals")
        q = self.terms[1]
        if q < 0:
            raise NotSimple("the square root of a negative number")
        s, r = _squarefree(q.numerator * q.denominator)
        return Surd({r: Fraction(s, q.denominator)})

    # comparisons and conversion -------------------------------------------------------
    def is_zero(self) -> bool:
        return not self.terms

    def sign(self) -> int:
        """-1, 0 or 1, exactly for ``a + b√c``; for more radicals from the float value (raises
        NotSimple when that is too close to 0 to be sure)."""
        if not self.terms:
            return 0
        radicals = [c for c in self.terms if c != 1]
        if len(radicals) <= 1:
            a = self.terms.get(1, Fraction(0))
            b = self.terms[radicals[0]] if radicals else Fraction(0)
            c = radicals[0] if radicals else 1
            if a >= 0 and b >= 0:
                return 1
            if a <= 0 and b <= 0:
                return -1
            big = a * a - b * b * c  # sign of |a| − |b|√c
            return (1 if a > 0 else -1) * (1 if big > 0 else -1)
        x = float(self)
        if abs(x) <= 1e-9 * sum(abs(float(q)) * math.sqrt(c) for c, q in self.terms.items()):
            raise NotSimple("the sign of a sum of several radicals too close to 0")
        return 1 if x > 0 else -1

    def __abs__(self) -> Surd:
        return -self if self.sign() < 0 else self

    def __lt__(self, other: Number | float) -> bool:
        return (self - Surd.lift(other)).sign() < 0

    def __le__(self, other: Number | float) -> bool:
        return (self - Surd.lift(other)).sign() <= 0

    def __gt__(self, other: Number | float) -> bool:
        return (self - Surd.lift(other)).sign() > 0

    def __ge__(self, other: Number | float) -> bool:
        return (self - Surd.lift(other)).sign() >= 0

    def __bool__(self) -> bool:
        return bool(self.terms)

    def __float__(self) -> float:
        return float(sum(float(q) * math.sqrt(c) for c, q in self.terms.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, float) and not math.isfinite(other):
            return False
        if isinstance(other, (int, float, Fraction)):
            other = Surd.lift(other)
        return isinstance(other, Surd) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.terms.items())))

    def __repr__(self) -> str:
        return f"Surd({self})"

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for c in sorted(self.terms):
            q = self.terms[c]
            sign = "-" if q < 0 else "+"
            p, d = abs(q.numerator), q.denominator
            if c == 1:
                body = str(p)
            else:
                body = f"sqrt({c})" if p == 1 else f"{p}*sqrt({c})"
            if d != 1:
                body += f"/{d}"
            parts.append((sign, body))
        first_sign, first = parts[0]
        text = ("-" if first_sign == "-" else "") + first
        for sign, body in parts[1:]:
            text += f" {sign} {body}"
        return text
