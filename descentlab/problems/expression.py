"""User formulas such as ``"x**2/20 + y**2"``: parsed safely, differentiated symbolically,
evaluated with NumPy.

Safety: the text is only ever *parsed* — :func:`ast.parse`, i.e. ``compile`` with the
``PyCF_ONLY_AST`` flag, which builds a syntax tree and generates and runs no code — then
translated node by node, through a strict whitelist, into this module's own small expression
tree. Nothing of the user's text reaches ``eval`` or ``exec``, and no code object is ever
made from it. Anything outside the grammar below is rejected with an
:class:`~descentlab.errors.InputError` (a ValueError) that quotes the offending part and its column.

Grammar (Python syntax, ``^`` also accepted for ``**``)::

    expr     := number | x | y | pi | e
              | expr (+ | - | * | / | ** | ^) expr | -expr | +expr | (expr)
              | function(expr) | min(expr, expr) | max(expr, expr)
    function := sin cos tan exp log ln sqrt abs sign tanh sinh cosh
                atan arctan asin arcsin acos arccos

Limits: at most 500 characters, nesting depth at most 60, constant exponents at most 1000 in
magnitude, and every constant part must evaluate to a finite number (so ``9**9**9`` and
``1/0`` are rejected instead of computed).

Derivatives use the sum, product, quotient, power and chain rules with light simplification
(constant folding, 0 and 1 identities, signs pulled out). The simplified tree is what is
printed and differentiated; f itself is evaluated from the tree exactly as written, so no
reassociation changes its bits or overflows where the text does not, and a part with variables
is never simplified to a constant (``0*log(x)`` stays undefined where ``log(x)`` is). A
constant part is evaluated as written before any simplification: ``x + 0/0`` is refused.
Evaluation happens under ``np.errstate(all="ignore")``: log of a negative number, division by
zero or overflow give nan/inf silently.

>>> from descentlab.problems import from_expression
>>> p = from_expression("x^2/20 + y^2")
>>> p.formula, p.dim, p.gradient_expression
('x**2/20 + y**2', 2, '(2*x/20, 2*y)')
>>> from_expression("log(1 + x**2)").gradient_expression
'2*x/(1 + x**2)'
>>> from_expression("__import__('os')")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
descentlab.errors.InputError: invalid expression: unknown function '__import__' at column 1; ...
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .base import Problem, check_window
from .minima import search_minima

MAX_LENGTH = 500
MAX_DEPTH = 60
MAX_EXPONENT = 1000.0
MAX_PRINTED_NODES = 20_000  # a longer gradient_expression is not printed
VARIABLES = ("x", "y")
CONSTANTS = {"pi": math.pi, "e": math.e}


# -- the expression tree ------------------------------------------------------------------------


class Node:
    """Base of the expression tree (immutable; equal trees compare equal)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Num(Node):
    value: float
    name: str = field(default="", compare=False)  # "pi" or "e": printed by name, not folded


@dataclass(frozen=True, slots=True)
class Var(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Neg(Node):
    arg: Node


@dataclass(frozen=True, slots=True)
class BinOp(Node):
    op: str  # one of + - * / **
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


ZERO, ONE, TWO = Num(0.0), Num(1.0), Num(2.0)


# -- functions: NumPy implementation and derivative f'(u) -----------------------------------------

#: Canonical function name → (NumPy function, derivative factor f'(u) as a tree builder).
UNARY: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[Node], Node]]] = {
    "sin": (np.sin, lambda u: call("cos", u)),
    "cos": (np.cos, lambda u: neg(call("sin", u))),
    "tan": (np.tan, lambda u: div(ONE, power(call("cos", u), TWO))),
    "exp": (np.exp, lambda u: call("exp", u)),
    "log": (np.log, lambda u: div(ONE, u)),
    "sqrt": (np.sqrt, lambda u: div(ONE, mul(TWO, call("sqrt", u)))),
    "abs": (np.abs, lambda u: call("sign", u)),
    "sign": (np.sign, lambda u: ZERO),
    "tanh": (np.tanh, lambda u: sub(ONE, power(call("tanh", u), TWO))),
    "sinh": (np.sinh, lambda u: call("cosh", u)),
    "cosh": (np.cosh, lambda u: call("sinh", u)),
    "atan": (np.arctan, lambda u: div(ONE, add(ONE, power(u, TWO)))),
    "asin": (np.arcsin, lambda u: div(ONE, call("sqrt", sub(ONE, power(u, TWO))))),
    "acos": (np.arccos, lambda u: neg(div(ONE, call("sqrt", sub(ONE, power(u, TWO)))))),
}
BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "min": np.minimum,
    "max": np.maximum,
}
ALIASES = {"ln": "log", "arctan": "atan", "arcsin": "asin", "arccos": "acos"}
FUNCTION_NAMES = sorted([*UNARY, *BINARY, *ALIASES])
_ALLOWED = f"x, y, pi, e and the functions {', '.join(FUNCTION_NAMES)}"

OPERATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
}


def _fold(func: Callable[..., np.ndarray], *values: float) -> float:
    with np.errstate(all="ignore"):
        return float(func(*(np.float64(v) for v in values)))


# -- smart constructors: light simplification ---------------------------------------------------


def _num(node: Node) -> float | None:
    return node.value if isinstance(node, Num) else None


def _folded(node: BinOp | Call) -> Node:
    """Replace an operation on constants by its value when that value is finite."""
    args = (node.left, node.right) if isinstance(node, BinOp) else node.args
    if all(isinstance(a, Num) and not a.name for a in args):
        func = OPERATORS[node.op] if isinstance(node, BinOp) else evaluator_of(node.func)
        value = _fold(func, *(a.value for a in args))
        if math.isfinite(value):
            return Num(value)
    return node


def neg(a: Node) -> Node:
    if isinstance(a, Num) and not a.name:
        return Num(-a.value)
    if isinstance(a, Neg):
        return a.arg
    return _negate_leading_number(a) or Neg(a)


def _negate_leading_number(a: Node) -> Node | None:
    """-(2*x*y) → (-2)*x*y: the sign goes into a leading number, which is how "-2*x*y"
    reads back; None when the product does not start with a plain number."""
    if not (isinstance(a, BinOp) and a.op in "*/"):
        return None
    build = mul if a.op == "*" else div  # rebuilt through the rules: -(-1/x*y) → y/x
    if isinstance(a.left, Num) and not a.left.name:
        return build(Num(-a.left.value), a.right)
    left = _negate_leading_number(a.left)
    return build(left, a.right) if left is not None else None


def add(a: Node, b: Node) -> Node:
    if _num(a) == 0:
        return b
    if _num(b) == 0:
        return a
    if isinstance(b, Neg):
        return sub(a, b.arg)
    if isinstance(b, Num) and b.value < 0:
        return sub(a, Num(-b.value))
    return _folded(BinOp("+", a, b))


def sub(a: Node, b: Node) -> Node:
    if _num(b) == 0:
        return a
    if _num(a) == 0:
        return neg(b)
    if isinstance(b, Neg):
        return add(a, b.arg)
    if isinstance(b, Num) and b.value < 0:
        return add(a, Num(-b.value))
    if a == b:
        return ZERO
    return _folded(BinOp("-", a, b))


def mul(a: Node, b: Node) -> Node:
    if _num(a) == 0 or _num(b) == 0:
        return ZERO
    if _num(a) == 1:
        return b
    if _num(b) == 1:
        return a
    if _num(a) == -1:
        return neg(b)
    if _num(b) == -1:
        return neg(a)
    if isinstance(a, Neg):
        return neg(mul(a.arg, b))
    if isinstance(b, Neg):
        return neg(mul(a, b.arg))
    if isinstance(b, Num) and not isinstance(a, Num) and variables(a):
        # constants first: 2*x, not x*2 (a constant product such as pi*2 stays put, or
        # pi*(2*pi) would be rotated forever)
        return mul(b, a)
    if isinstance(a, BinOp) and a.op == "/" and _num(a.left) == 1:
        return div(b, a.right)  # (1/u)*v → v/u
    if isinstance(b, BinOp) and b.op == "/" and _num(b.left) == 1:
        return div(a, b.right)
    if isinstance(b, BinOp) and b.op == "*":
        return mul(mul(a, b.left), b.right)  # a*(b*c) → a*b*c
    if isinstance(b, BinOp) and b.op == "/":
        return div(mul(a, b.left), b.right)  # a*(b/c) → a*b/c
    if (isinstance(a, Num) and not a.name and isinstance(b, BinOp) and b.op == "*"
            and isinstance(b.left, Num) and not b.left.name):
        return mul(Num(a.value * b.left.value), b.right)
    return _folded(BinOp("*", a, b))


def div(a: Node, b: Node) -> Node:
    if _num(a) == 0:
        return ZERO
    if _num(b) == 1:
        return a
    if isinstance(a, Neg):
        return neg(div(a.arg, b))
    if isinstance(b, Neg):
        return neg(div(a, b.arg))
    if isinstance(b, Num) and b.value < 0:
        return neg(div(a, Num(-b.value)))
    if a == b:
        return ONE
    if (isinstance(a, BinOp) and isinstance(b, BinOp) and a.op == b.op == "*"
            and isinstance(a.left, Num) and a.left == b.left):
        return div(a.right, b.right)  # c*u/(c*v) → u/v
    if isinstance(a, BinOp) and a.op == "*" and isinstance(b, Num) and a.left == b:
        return a.right  # c*u/c → u
    return _folded(BinOp("/", a, b))


def power(a: Node, b: Node) -> Node:
    if _num(b) == 0:
        return ONE
    if _num(b) == 1:
        return a
    return _folded(BinOp("**", a, b))


def call(func: str, *args: Node) -> Node:
    return _folded(Call(func, args))


# -- symbolic differentiation ------------------------------------------------------------------


def variables(node: Node) -> set[str]:
    """The variable names a tree uses."""
    if isinstance(node, Var):
        return {node.name}
    if isinstance(node, Neg):
        return variables(node.arg)
    if isinstance(node, BinOp):
        return variables(node.left) | variables(node.right)
    if isinstance(node, Call):
        return set().union(*(variables(a) for a in node.args))
    return set()


#: A memo of :func:`derivative`: (id of a node, variable) → (the node, its derivative).
Memo = dict[tuple[int, str], tuple[Node, Node]]


def derivative(node: Node, var: str, memo: Memo | None = None) -> Node:
    """∂node/∂var as a simplified tree. ``memo``, shared across calls, derives each shared
    subtree once: a gradient's tree is a DAG (the product rule reuses both factors), and its
    derivative — a Hessian's entry — would otherwise take time growing with the number of
    paths through it."""
    return _derivative(node, var, {} if memo is None else memo)


def _derivative(node: Node, var: str, memo: Memo) -> Node:
    known = memo.get((id(node), var))
    if known is not None:
        return known[1]
    result = _derive(node, var, memo)
    memo[(id(node), var)] = (node, result)  # (the node kept alive: its id stays its own)
    return result


def _derive(node: Node, var: str, memo: Memo) -> Node:
    def derivative(n: Node, v: str) -> Node:
        return _derivative(n, v, memo)

    if isinstance(node, Num):
        return ZERO
    if isinstance(node, Var):
        return ONE if node.name == var else ZERO
    if isinstance(node, Neg):
        return neg(derivative(node.arg, var))
    if isinstance(node, BinOp):
        a, b = node.left, node.right
        da, db = derivative(a, var), derivative(b, var)
        if node.op == "+":
            return add(da, db)
        if node.op == "-":
            return sub(da, db)
        if node.op == "*":
            return add(mul(da, b), mul(a, db))
        if node.op == "/":
            return sub(div(da, b), div(mul(a, db), power(b, TWO)))
        # power: (a**c)' = c*a**(c-1)*a';  (c**b)' = c**b*log(c)*b';  general:
        # (a**b)' = a**b*(b'*log(a) + b*a'/a)
        if var not in variables(b):
            return mul(mul(b, power(a, sub(b, ONE))), da)
        if var not in variables(a):  # log(c) kept as text, e**b' = e**b*b'
            log_a = ONE if isinstance(a, Num) and a.name == "e" else Call("log", (a,))
            return mul(mul(node, log_a), db)
        return mul(node, add(mul(db, call("log", a)), div(mul(b, da), a)))
    if isinstance(node, Call):
        if node.func in BINARY:  # min(a, b) = (a + b)/2 - |a - b|/2; max with +
            a, b = node.args
            da, db = derivative(a, var), derivative(b, var)
            jump = div(mul(call("sign", sub(a, b)), sub(da, db)), TWO)
            mean = div(add(da, db), TWO)
            return sub(mean, jump) if node.func == "min" else add(mean, jump)
        (u,) = node.args
        return mul(UNARY[node.func][1](u), derivative(u, var))
    raise TypeError(f"not an expression node: {node!r}")


# -- evaluation and printing -------------------------------------------------------------------


def evaluator_of(func: str) -> Callable[..., np.ndarray]:
    return UNARY[func][0] if func in UNARY else BINARY[func]


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Neg):
        return (node.arg,)
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


class Program:
    """Trees compiled into a straight-line sequence of NumPy calls.

    Derivatives share subtrees by reference (the product rule reuses both factors), so the
    trees are really DAGs; each shared node is evaluated once per call, which keeps a
    gradient's cost proportional to its number of distinct nodes, not to its printed size.
    Built without recursion. Call it under ``np.errstate(all="ignore")``.
    """

    def __init__(self, roots: Sequence[Node]) -> None:
        slots: dict[int, int] = {}
        nodes: list[Node] = []
        stack = [(root, False) for root in reversed(roots)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in slots:
                continue
            children = _children(node)
            if expanded or not children:
                slots[id(node)] = len(nodes)
                nodes.append(node)
            else:
                stack.append((node, True))
                stack.extend((c, False) for c in reversed(children) if id(c) not in slots)
        self.nodes = nodes
        self.outputs = [slots[id(root)] for root in roots]
        self.steps: list[tuple[int, object, tuple[int, ...]]] = []
        for node in nodes:
            args = tuple(slots[id(c)] for c in _children(node))
            if isinstance(node, Num):
                self.steps.append((0, node.value, args))
            elif isinstance(node, Var):
                self.steps.append((1, node.name, args))
            elif isinstance(node, Neg):
                self.steps.append((2, np.negative, args))
            elif isinstance(node, BinOp):
                self.steps.append((2, OPERATORS[node.op], args))
            else:
                assert isinstance(node, Call)
                self.steps.append((2, evaluator_of(node.func), args))

    def __call__(self, env: dict[str, np.ndarray]) -> list[np.ndarray | float]:
        values = self.values(env)
        return [values[i] for i in self.outputs]

    def values(self, env: dict[str, np.ndarray]) -> list[np.ndarray | float]:
        """Every node's value, in the order of :attr:`nodes` (for checks of the parts)."""
        values: list = []
        for kind, payload, args in self.steps:
            if kind == 0:
                values.append(payload)
            elif kind == 1:
                values.append(env[payload])  # type: ignore[index]
            else:
                values.append(payload(*[values[a] for a in args]))  # type: ignore[operator]
        return values

    def printed_size(self) -> int:
        """How many nodes :func:`to_text` would print (shared subtrees count every time)."""
        sizes: list[int] = []
        for _, _, args in self.steps:
            sizes.append(1 + sum(sizes[a] for a in args))
        return max((sizes[i] for i in self.outputs), default=0)


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4, "atom": 5}


def _precedence(node: Node) -> int:
    if isinstance(node, BinOp):
        return _PRECEDENCE[node.op]
    if isinstance(node, Neg) or (isinstance(node, Num) and not node.name
                                 and math.copysign(1.0, node.value) < 0):  # -0.0 prints "-0"
        return _PRECEDENCE["neg"]
    return _PRECEDENCE["atom"]


def _format_number(value: float) -> str:
    if value == 0 and math.copysign(1.0, value) < 0:
        return "-0"  # keep the sign of zero: it reads back as -0.0
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def to_text(node: Node) -> str:
    """The tree as Python/NumPy text with the fewest parentheses that keep its meaning;
    :func:`parse` reads it back."""
    if isinstance(node, Num):
        return node.name or _format_number(node.value)
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, Neg):
        inner = to_text(node.arg)
        # A leading number would read back as a negative literal (-0*x is (-0)*x): wrap it.
        wrap = _precedence(node.arg) < 2 or inner[:1].isdigit() or inner[:1] in ".-"
        return f"-({inner})" if wrap else f"-{inner}"
    assert isinstance(node, BinOp)
    mine = _PRECEDENCE[node.op]
    left, right = to_text(node.left), to_text(node.right)
    if node.op == "**":  # right-associative, binds tighter than unary minus
        left_wrap = _precedence(node.left) <= mine
        right_wrap = _precedence(node.right) < mine
    else:
        left_wrap = _precedence(node.left) < mine
        right_wrap = _precedence(node.right) <= mine
    if left_wrap:
        left = f"({left})"
    if right_wrap:
        right = f"({right})"
    if node.op in "+-":
        return f"{left} {node.op} {right}"
    return f"{left}{node.op}{right}"


# -- parsing: Python syntax tree → expression tree, through a whitelist ---------------------------

_AST_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_FORBIDDEN = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscripting ('[...]')",
    ast.Lambda: "lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.Compare: "a comparison",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "'if ... else'",
    ast.Tuple: "a tuple",
    ast.List: "a list",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "':='",
    ast.Starred: "'*' unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}


class _Translator:
    """Walks a Python syntax tree and builds an expression tree, or raises ValueError."""

    def __init__(self, text: str, columns: list[int], simplify: bool = True) -> None:
        self.text = text
        self.simplify = simplify  # False: the tree exactly as written (how f is evaluated)
        self.columns = columns  # character index in `text` → column (1-based) in user text
        self.seen: set[str] = set()  # variables written (even if simplified away: 0*y)

    def fail(self, node: ast.AST, reason: str, hint: str = "") -> InputError:
        offset = getattr(node, "col_offset", None)  # in UTF-8 bytes
        where = ""
        if offset is not None:
            index = len(self.text.encode()[:offset].decode(errors="ignore"))
            where = f" at column {self.columns[min(index, len(self.columns) - 1)]}"
        return InputError(f"invalid expression: {reason}{where}{hint}")

    def quote(self, node: ast.AST) -> str:
        segment = ast.get_source_segment(self.text, node) or ast.dump(node)[:40]
        return segment if len(segment) <= 60 else segment[:57] + "..."

    def constant_checked(self, node: ast.AST, result: Node, operands: Sequence[Node],
                         raw: Node) -> Node:
        """A part without variables must have a finite value (rejects 1/0, 10**400, and
        0/0 even though ``0/anything`` simplifies to 0); a part with variables is never
        simplified to a constant (``0*log(x)`` stays undefined where ``log(x)`` is)."""
        if not any(variables(a) for a in operands):
            with np.errstate(all="ignore"):  # the operation as written, before simplifying
                value = float(Program([raw])({})[0])
            if not math.isfinite(value):
                raise self.fail(node, f"the constant part {self.quote(node)!r} is not finite "
                                      f"(value {value})")
            return result
        if not variables(result):
            return raw
        return result

    def translate(self, node: ast.AST, depth: int = 0) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nested too deeply (more than {MAX_DEPTH} levels)")
        deeper = depth + 1
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(node, f"only numbers are allowed as constants, not "
                                      f"{self.quote(node)!r}")
            try:
                number = float(value)
            except OverflowError:
                raise self.fail(node, f"the number {self.quote(node)!r} is too large") from None
            if not math.isfinite(number):
                raise self.fail(node, f"the number {self.quote(node)!r} is not finite")
            return Num(number)
        if isinstance(node, ast.Name):
            if node.id in VARIABLES:
                self.seen.add(node.id)
                return Var(node.id)
            if node.id in CONSTANTS:
                return Num(CONSTANTS[node.id], node.id)
            if node.id in FUNCTION_NAMES:
                raise self.fail(node, f"{node.id!r} is a function: write {node.id}(...)")
            raise self.fail(node, f"unknown name {node.id!r}", f"; allowed: {_ALLOWED}")
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                operand = self.translate(node.operand, deeper)
                return neg(operand) if self.simplify else Neg(operand)
            if isinstance(node.op, ast.UAdd):
                return self.translate(node.operand, deeper)
            raise self.fail(node, f"the operator in {self.quote(node)!r} is not allowed")
        if isinstance(node, ast.BinOp):
            op = _AST_OPERATORS.get(type(node.op))
            if op is None:
                raise self.fail(node, f"the operator in {self.quote(node)!r} is not allowed "
                                      f"(use + - * / ** ^)")
            left = self.translate(node.left, deeper)
            right = self.translate(node.right, deeper)
            if op == "**" and isinstance(right, Num) and abs(right.value) > MAX_EXPONENT:
                raise self.fail(node.right, f"the exponent {self.quote(node.right)!r} is too "
                                            f"large (at most {MAX_EXPONENT:g} in magnitude)")
            build = {"+": add, "-": sub, "*": mul, "/": div, "**": power}[op]
            raw = BinOp(op, left, right)
            if self.simplify and op in "*/" and (isinstance(left, Neg) or isinstance(right, Neg)):
                # the sign in front, as mul and div put it (the same bits: negation is exact)
                inner = BinOp(op, getattr(left, "arg", left), getattr(right, "arg", right))
                kept = inner if isinstance(left, Neg) and isinstance(right, Neg) else neg(inner)
            else:
                kept = raw
            result = self.constant_checked(node, build(left, right) if self.simplify else raw,
                                           (left, right), raw)
            return kept if result is raw else result
        if isinstance(node, ast.Call):
            return self.translate_call(node, deeper)
        for kind, what in _FORBIDDEN.items():
            if isinstance(node, kind):
                raise self.fail(node, f"{what} is not allowed: {self.quote(node)!r}")
        raise self.fail(node, f"{self.quote(node)!r} is not allowed")

    def translate_call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, f"only the listed functions may be called, not "
                                  f"{self.quote(node.func)!r}")
        name = ALIASES.get(node.func.id, node.func.id)
        if name not in UNARY and name not in BINARY:
            raise self.fail(node, f"unknown function {node.func.id!r}",
                            f"; allowed: {_ALLOWED}")
        if node.keywords:
            raise self.fail(node, f"keyword arguments are not allowed in {self.quote(node)!r}")
        wanted = 2 if name in BINARY else 1
        if len(node.args) != wanted:
            raise self.fail(node, f"{node.func.id}() takes {wanted} argument(s), got "
                                  f"{len(node.args)} in {self.quote(node)!r}")
        args = [self.translate(a, depth) for a in node.args]
        raw = Call(name, tuple(args))
        return self.constant_checked(node, call(name, *args) if self.simplify else raw, args,
                                     raw)


def parse(text: str) -> Node:
    """Parse a formula into an expression tree; ValueError (quoting the offending part) for
    anything outside the grammar in this module's docstring."""
    return _parse(text)[0]


def _parse(text: str) -> tuple[Node, set[str], Node]:
    """The simplified tree (for derivatives and printing), the variable names the text
    mentions, and the tree exactly as written (what f evaluates: no reassociation, so
    ``1e200*(1e200*x)`` is 0 at x = 0, as written, not inf*0)."""
    if not isinstance(text, str):
        raise InputError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise InputError(f"invalid expression: longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise InputError("invalid expression: it is empty")
    # One line (line breaks count as spaces), no leading blanks, ^ → **; `columns` maps each
    # character of the source back to its column in the user's text for error messages.
    flat = "".join(" " if ch in "\n\r\t\f\v" else ch for ch in text)
    lead = len(flat) - len(flat.lstrip(" "))
    source, columns = "", []
    for i, ch in enumerate(flat[lead:], start=lead + 1):
        source += "**" if ch == "^" else ch
        columns += [i, i] if ch == "^" else [i]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        where, why = "", e.msg
        if e.lineno == 1 and e.offset and e.offset <= len(columns):
            where = f" at column {columns[e.offset - 1]}"
        elif e.lineno == 1:  # Python reports offset 0 when the text ends too early
            where = f" at column {len(flat.rstrip()) + 1}, the end"
            why = "it is incomplete" if why == "invalid syntax" else why
        raise InputError(f"invalid expression {text!r}: syntax error{where} ({why})") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise InputError(f"invalid expression {text!r}: {e}") from None
    translator = _Translator(source, columns)
    try:
        simplified = translator.translate(tree.body)
        return simplified, translator.seen, _Translator(source, columns, False).translate(
            tree.body)
    except RecursionError:
        raise InputError("invalid expression: too complex") from None


# -- the Problem ---------------------------------------------------------------------------------

#: Sample points per axis where a formula must be defined somewhere (see _check_defined).
SAMPLES_PER_AXIS = {1: 4097, 2: 129}


def _check_defined(program: Program, names: Sequence[str], window: Sequence[Sequence[float]],
                   expr: str) -> None:
    """Refuse a formula that is nowhere a function: a division by (or negative power, or
    log, of) a part that is zero at every sample point of the window — ``(x - x)/(x - x)``,
    ``(x*0)**-1``, ``log(x - x)`` — or f undefined (nan) at all of them
    (``log(-1 - x**2)``). The samples: a grid over the window (4,097 points in 1-D,
    129 × 129 in 2-D) shifted off the round numbers (0, integers) by an irrational fraction
    of a cell. A formula defined only
    between the samples (a disc narrower than a cell) is refused too; the message says
    how it was judged."""
    axes = [lo + (hi - lo) * (np.arange(SAMPLES_PER_AXIS[len(names)]) + 0.5 / math.sqrt(2))
            / SAMPLES_PER_AXIS[len(names)] for lo, hi in window]
    grid = np.meshgrid(*axes, indexing="ij")
    env = {v: g.ravel() for v, g in zip(names, grid)}
    with np.errstate(all="ignore"):
        values = program.values(env)
    index = {id(n): i for i, n in enumerate(program.nodes)}
    for node in program.nodes:
        if isinstance(node, Call) and node.func == "log" \
                and np.all(np.asarray(values[index[id(node.args[0])]]) == 0):
            raise InputError(f"invalid expression {expr!r}: log of {to_text(node.args[0])!r}, "
                             "which is zero everywhere (the formula is -inf everywhere)")
        if not isinstance(node, BinOp) or node.op not in ("/", "**"):
            continue
        base = np.asarray(values[index[id(node.right if node.op == "/" else node.left)]])
        if node.op == "**" and not np.all(np.asarray(values[index[id(node.right)]]) < 0):
            continue
        if np.all(base == 0):
            part = to_text(node.right if node.op == "/" else node.left)
            what = "division by" if node.op == "/" else "a negative power of"
            raise InputError(f"invalid expression {expr!r}: {what} {part!r}, which is zero "
                             "everywhere (the formula is undefined everywhere)")
    f = np.asarray(values[program.outputs[0]], dtype=float)
    if np.isnan(f).all():  # (±inf is an overflow: 1e200*(1e200*x) is finite near 0)
        raise InputError(f"invalid expression {expr!r}: undefined (nan) at every one of "
                         f"{f.size:,} points sampled in the window "
                         f"{[tuple(w) for w in window]}")



def from_expression(
    expr: str,
    *,
    start: Sequence[float] | None = None,
    window: Sequence[Sequence[float]] | None = None,
    name: str | None = None,
    dim: int | None = None,
    find_minima: bool = True,
) -> Problem:
    """A :class:`Problem` from a formula in ``x`` (1-D) or ``x`` and ``y`` (2-D).

    Args:
        expr: the formula, e.g. ``"x**2/20 + y**2"``, ``"sin(x)*cos(y)"``, ``"exp(-x^2)"``;
            grammar in this module's docstring.
        start: start point (default: 20% into the window along x, 70% along y — (-3, 2)
            in the default window).
        window: per-dimension view range (default (-5, 5) for each dimension).
        name: the problem's name (default ``"custom"``).
        dim: force the dimension (2 for a formula in x only); default: 2 if ``y`` appears,
            else 1.
        find_minima: search the window for minima numerically
            (:func:`~descentlab.problems.minima.search_minima`: Newton's method from a grid
            of guesses; "global" means lowest in the window). False: ``minima`` is empty.

    The gradient is derived symbolically (``problem.gradient_expression``), and the Hessian
    from it (``problem.hessian``: the upper triangle's derivatives, mirrored; derived on first
    use and kept).

    >>> p = from_expression("(x - 1)**2 + 2*(y + 0.5)**2")
    >>> p.minima
    [Minimum(point=(1.0, -0.5), value=0.0, kind='global')]
    """
    tree, used, as_written = _parse(expr)
    if dim is None:
        dim = 2 if "y" in used else 1
    if dim not in (1, 2):
        raise InputError(f"dim must be 1 or 2, got {dim!r}")
    if dim == 1 and "y" in used:
        raise InputError(f"the expression {expr!r} uses y, so it needs dim=2")
    names = VARIABLES[:dim]
    try:
        gradient = [derivative(tree, v) for v in names]
        value_program, gradient_program = Program([as_written]), Program(gradient)
        if gradient_program.printed_size() <= MAX_PRINTED_NODES:
            gradient_texts = [to_text(g) for g in gradient]
            gradient_text = gradient_texts[0] if dim == 1 else f"({', '.join(gradient_texts)})"
        else:
            gradient_text = f"(longer than {MAX_PRINTED_NODES} terms; not printed)"
        formula = to_text(tree)
    except RecursionError:
        raise InputError(f"invalid expression {expr!r}: too complex to differentiate") from None

    def f(X: np.ndarray) -> np.ndarray:
        env = {v: X[..., i] for i, v in enumerate(names)}
        return np.broadcast_to(value_program(env)[0], X.shape[:-1])

    def grad(X: np.ndarray) -> np.ndarray:
        env = {v: X[..., i] for i, v in enumerate(names)}
        parts = [np.broadcast_to(g, X.shape[:-1]) for g in gradient_program(env)]
        return np.stack(parts, axis=-1)

    hessian_program: list[Program] = []  # built on first use

    def hessian(X: np.ndarray) -> np.ndarray:
        if not hessian_program:
            memo: Memo = {}
            try:
                upper = [derivative(gradient[i], names[j], memo)
                         for i in range(dim) for j in range(i, dim)]
                hessian_program.append(Program(upper))
            except RecursionError:
                raise InputError(f"invalid expression {expr!r}: too complex to take its "
                                 "Hessian") from None
        env = {v: X[..., i] for i, v in enumerate(names)}
        parts = iter(np.broadcast_to(h, X.shape[:-1]) for h in hessian_program[0](env))
        H = np.empty(X.shape + (dim,), dtype=np.result_type(X.dtype, np.float64))
        for i in range(dim):
            for j in range(i, dim):
                H[..., i, j] = H[..., j, i] = next(parts)
        return H

    window = check_window(((-5.0, 5.0),) * dim if window is None else window, dim,
                           name or "custom")
    if start is None:
        start = tuple(lo + fraction * (hi - lo)
                      for (lo, hi), fraction in zip(window, (0.2, 0.7)))
    _check_defined(value_program, names, window, expr)
    minima = search_minima(f, grad, window) if find_minima else []
    found = ("minima found numerically in the window ('global' = lowest in the window)"
             if find_minima else "minima not searched")
    return Problem(
        name or "custom", dim, formula, f, grad,
        minima=minima, start=start, window=window,
        gradient_expression=gradient_text, hessian=hessian,
        description=f"user expression {expr!r}; {found}",
    )
