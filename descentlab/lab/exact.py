"""Exact numbers for hand-checkable traces: rationals and sums of simple square roots.

A :class:`Surd` is ``q0 + q1·√c1 + q2·√c2 + ...`` with rational ``q`` (``fractions.Fraction``)
and distinct square-free integers ``c > 1``. Sums, differences and products stay exact.
Division is exact by a number with at most one radical (``a + b√c``, via the conjugate), and
the square root is exact for a non-negative rational; anything else raises
:class:`NotSimple`, and the trace falls back to floating point from there on.

>>> x = Surd.of(4, 3) / Surd.of(2).sqrt()
>>> str(x), str(1 - Surd.of(1, 3).sqrt())
('2*sqrt(2)/3', '1 - sqrt(3)/3')
>>> float(-x)
-0.9428090415820634
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Union

Number = Union["Surd", int, Fraction]


class NotSimple(ArithmeticError):
    """The exact result is not a rational plus simple square roots (or is undefined)."""


def _squarefree(n: int) -> tuple[int, int]:
    """n = s²·r with r square-free; returns (s, r). n >= 1."""
    s, r, d = 1, 1, 2
    while d * d <= n:
        while n % (d * d) == 0:
            s *= d
            n //= d * d
        if n % d == 0:
            r *= d
            n //= d
        d += 1
    return s, r * n


class Surd:
    """An exact number ``Σ q_c·√c`` (c square-free, c = 1 the rational part)."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[int, Fraction]) -> None:
        self.terms = {c: q for c, q in terms.items() if q != 0}

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
    def lift(x: Number) -> Surd:
        return x if isinstance(x, Surd) else Surd({1: Fraction(x)})

    # arithmetic -----------------------------------------------------------------------
    def __add__(self, other: Number) -> Surd:
        o = Surd.lift(other)
        terms = dict(self.terms)
        for c, q in o.terms.items():
            terms[c] = terms.get(c, Fraction(0)) + q
        return Surd(terms)

    __radd__ = __add__

    def __neg__(self) -> Surd:
        return Surd({c: -q for c, q in self.terms.items()})

    def __sub__(self, other: Number) -> Surd:
        return self + -Surd.lift(other)

    def __rsub__(self, other: Number) -> Surd:
        return Surd.lift(other) - self

    def __mul__(self, other: Number) -> Surd:
        o = Surd.lift(other)
        terms: dict[int, Fraction] = {}
        for c1, q1 in self.terms.items():
            for c2, q2 in o.terms.items():
                s, r = _squarefree(c1 * c2)
                terms[r] = terms.get(r, Fraction(0)) + q1 * q2 * s
        return Surd(terms)

    __rmul__ = __mul__

    def __truediv__(self, other: Number) -> Surd:
        return self * Surd.lift(other).inverse()

    def __rtruediv__(self, other: Number) -> Surd:
        return Surd.lift(other) * self.inverse()

    def __pow__(self, n: int) -> Surd:
        if not isinstance(n, int) or n < 0:
            raise NotSimple("only non-negative integer powers are exact")
        out = Surd.of(1)
        for _ in range(n):
            out = out * self
        return out

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

    def __float__(self) -> float:
        return float(sum(float(q) * math.sqrt(c) for c, q in self.terms.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (int, Fraction)):
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
