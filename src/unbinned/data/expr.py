r"""Safe selection expressions: ``"pt > 20 & abs(eta) < 2.5"`` evaluated on columns.

A selection (or region) is a Python-like expression over column names, parsed with
:mod:`ast` and evaluated vectorised with numpy on a mapping of column arrays --
never with ``eval``.  Only these are allowed:

* column names and numeric (or boolean, or string) literals;
* arithmetic ``+ - * / // % **`` and unary ``-``/``+``;
* comparisons ``< <= > >= == !=``, chained as in ``0 < x <= 2`` (each link and-ed);
* logic on booleans: ``&``, ``|``, ``~``, ``^`` and ``and``, ``or``, ``not``;
* the functions of :data:`FUNCTIONS` (``abs``, ``sqrt``, ``log``, ``exp``,
  ``where``, ``minimum``, ``maximum``, ...), positional arguments only.

Anything else (attributes, subscripts, keyword arguments, lambdas, other names of
functions, ...) is a :class:`~unbinned.exceptions.ConfigError` that names the
expression and the offending token; so is a column that is not in the data (the
message lists the columns there are).  Mind Python's precedence: ``&`` binds more
tightly than ``>``, so write ``(pt > 20) & (eta < 2)`` or ``pt > 20 and eta < 2``;
``&``/``|`` applied to numbers (the usual slip) is an error that says so.

Examples
--------
>>> import numpy as np
>>> sel = Selection("pt > 20 and abs(eta) < 2.5")
>>> sel.columns
('eta', 'pt')
>>> sel({"pt": np.array([10.0, 30.0, 40.0]), "eta": np.array([0.0, 1.0, 3.0])}).tolist()
[False, True, False]
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError

__all__ = ["FUNCTIONS", "Selection", "evaluate_selection"]

FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "log10": np.log10,
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arctan2": np.arctan2,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "hypot": np.hypot,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": np.where,
    "isfinite": np.isfinite,
    "floor": np.floor,
    "ceil": np.ceil,
}
"""The functions an expression may call (numpy ufuncs and ``where``)."""

_BINARY: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
}
_LOGICAL: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.BitAnd: np.logical_and,
    ast.BitOr: np.logical_or,
    ast.BitXor: np.logical_xor,
}
_COMPARE: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_SYMBOL: dict[type, str] = {
    ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.And: "and", ast.Or: "or",
}  # fmt: skip


def _token(text: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(text, node)
    return segment if segment is not None else type(node).__name__


@dataclass(frozen=True)
class Selection:
    """A parsed, checked selection expression (see the module docstring).

    Parameters
    ----------
    text
        The expression, e.g. ``"pt > 20 & (abs(eta) < 2.5)"``.

    Attributes
    ----------
    columns
        The column names it reads, sorted.
    """

    text: str
    columns: tuple[str, ...] = field(init=False)
    _tree: ast.Expression = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ConfigError(
                f"selection {self.text!r} is empty; expected an expression such as 'pt > 20'"
            )
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as exc:
            where = f" at column {exc.offset}" if exc.offset else ""
            raise ConfigError(
                f"selection {self.text!r} does not parse{where}: {exc.msg}. "
                "Fix: write it like 'pt > 20 and abs(eta) < 2.5'"
            ) from None
        names: set[str] = set()
        self._check(tree.body, names)
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "columns", tuple(sorted(names)))

    # ------------------------------------------------------------------ checking
    def _fail(self, node: ast.AST, what: str) -> ConfigError:
        return ConfigError(
            f"selection {self.text!r}: {what} {_token(self.text.strip(), node)!r} is not "
            "allowed; expected column names, numbers, + - * / **, comparisons, "
            f"& | ~ and/or/not and the functions {sorted(FUNCTIONS)}"
        )

    def _check(self, node: ast.AST, names: set[str]) -> None:
        """Reject every node outside the whitelist; collect the column names."""
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float | bool | str):
                raise self._fail(node, "the literal")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY and type(node.op) not in _LOGICAL:
                raise self._fail(node, "the operator in")
            self._check(node.left, names)
            self._check(node.right, names)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd | ast.Not | ast.Invert):
                raise self._fail(node, "the operator in")
            self._check(node.operand, names)
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v, names)
        elif isinstance(node, ast.Compare):
            if any(type(op) not in _COMPARE for op in node.ops):
                raise self._fail(node, "the comparison")
            for v in (node.left, *node.comparators):
                self._check(v, names)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise self._fail(node.func, "the function")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise self._fail(node, "the call (positional arguments only)")
            for a in node.args:
                self._check(a, names)
        else:
            raise self._fail(node, "the expression")

    # ------------------------------------------------------------------ evaluation
    def __call__(self, columns: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
        """The boolean mask of the rows that pass, one per row of ``columns``.

        Parameters
        ----------
        columns
            Column name -> 1-D array (a ``pandas.DataFrame`` works too).
        """
        available = list(columns.keys())
        missing = [c for c in self.columns if c not in available]
        if missing:
            raise ConfigError(
                f"selection {self.text!r}: unknown column(s) {missing}; the data has "
                f"{sorted(str(c) for c in available)}. Fix: correct the name or add the column"
            )
        n = len(np.asarray(columns[available[0]])) if available else 0
        with np.errstate(all="ignore"):
            out = np.asarray(self._eval(self._tree.body, columns))
        if out.dtype != bool:
            raise ConfigError(
                f"selection {self.text!r} gives {out.dtype} values, not true/false; "
                "expected a condition such as 'pt > 20'"
            )
        return np.broadcast_to(out, (n,)).copy() if out.ndim == 0 else out

    def _eval(self, node: ast.AST, columns: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Name):
            return np.asarray(columns[node.id])
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, columns), self._eval(node.right, columns)
            if type(node.op) in _LOGICAL:
                return _LOGICAL[type(node.op)](self._bool(node, left), self._bool(node, right))
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, columns)
            if isinstance(node.op, ast.USub):
                return np.negative(value)
            if isinstance(node.op, ast.UAdd):
                return value
            return np.logical_not(self._bool(node, value))
        if isinstance(node, ast.BoolOp):
            values = [self._bool(node, self._eval(v, columns)) for v in node.values]
            op = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            return op.reduce(np.broadcast_arrays(*values)) if len(values) > 1 else values[0]
        if isinstance(node, ast.Compare):
            result: Any = True
            left = self._eval(node.left, columns)
            for cmp, comp in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comp, columns)
                result = np.logical_and(result, _COMPARE[type(cmp)](left, right))
                left = right
            return result
        assert isinstance(node, ast.Call)
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](*(self._eval(a, columns) for a in node.args))

    def _bool(self, node: ast.AST, value: Any) -> Any:
        arr = np.asarray(value)
        if arr.dtype != bool:
            sym = _SYMBOL.get(type(getattr(node, "op", None)), "not/~")
            raise ConfigError(
                f"selection {self.text!r}: {sym!r} in {_token(self.text.strip(), node)!r} "
                f"combines {arr.dtype} values, not conditions. Fix: parenthesise the "
                "comparisons, e.g. '(pt > 20) & (eta < 2)', or use and/or/not"
            )
        return arr

    def __str__(self) -> str:
        return self.text


def evaluate_selection(text: str, columns: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    """Parse ``text`` (:class:`Selection`) and return its mask on ``columns``."""
    return Selection(text)(columns)
