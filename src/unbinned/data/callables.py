r"""Python functions a configuration names: ``"package.module:function"``, imported and checked.

A config names a function by its dotted path, ``"package.module:function"``
(``"package.module.function"`` works too); :func:`load_callable` imports it,
looking first in the config's folder (so a ``systematics.py`` next to the config
is ``"systematics:vary"``), and :func:`check_keywords` checks that it can be
called with the keywords the library will pass, so that a wrong name or
signature is one clear :class:`~unbinned.exceptions.ConfigError` naming the key
when the config is read, not a traceback in the middle of a training.

Examples
--------
>>> fn = load_callable("posixpath:join", key="data.callable")
>>> fn("a", "b")
'a/b'
>>> check_keywords(fn, ["scale"], key="data.callable")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
unbinned.exceptions.ConfigError: data.callable: 'posixpath:join(a, *p)' cannot be called as ...
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from unbinned.exceptions import ConfigError

__all__ = ["accepts_keyword", "check_keywords", "load_callable"]


def _split(spec: str, key: str) -> tuple[str, str]:
    text = spec.strip()
    module, sep, name = text.partition(":")
    if not sep:
        module, _, name = text.rpartition(".")
    if not module or not name or not all(p.isidentifier() for p in (*module.split("."), name)):
        raise ConfigError(
            f"{key}: {spec!r} is not a function's dotted path; expected "
            "'package.module:function' (e.g. 'my_analysis.systematics:vary')"
        )
    return module, name


def load_callable(spec: str, *, key: str, search: Path | None = None) -> Callable[..., Any]:
    """Import the function ``spec`` names (``"package.module:function"``).

    Parameters
    ----------
    spec
        The dotted path.
    key
        The config key, for the error messages.
    search
        A folder to look in first (the config's); the module path is otherwise
        Python's (installed packages, ``PYTHONPATH``).

    Raises
    ------
    ConfigError
        When the path is malformed, the module does not import, it has no such
        attribute, or the attribute is not callable.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"{key}: expected 'package.module:function', got {spec!r}")
    module_name, name = _split(spec, key)
    added = search is not None and str(search) not in sys.path
    if added:
        sys.path.insert(0, str(search))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        where = f" (looked in {str(search)!r} and on the Python path)" if search else ""
        raise ConfigError(
            f"{key}: cannot import module {module_name!r} of {spec!r}{where}: {exc}; "
            "fix the path, or install the package"
        ) from None
    except Exception as exc:  # the user's module raised while importing
        raise ConfigError(
            f"{key}: importing {module_name!r} of {spec!r} raised {type(exc).__name__}: {exc}"
        ) from None
    finally:
        if added:
            sys.path.remove(str(search))
    fn = getattr(module, name, None)
    if fn is None:
        public = sorted(k for k in vars(module) if not k.startswith("_"))[:20]
        raise ConfigError(
            f"{key}: module {module_name!r} has no {name!r} (it has {public}); fix the name"
        )
    if not callable(fn):
        raise ConfigError(f"{key}: {spec!r} is a {type(fn).__name__}, not a function")
    return fn


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the keyword ``name`` (by name, or through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_keywords(
    fn: Callable[..., Any],
    keywords: Sequence[str],
    *,
    key: str,
    positional: int = 1,
    optional: Sequence[str] = (),
) -> None:
    """Check that ``fn(frame, **{k: value for k in keywords})`` is a valid call.

    The ``optional`` keywords are passed too when ``fn`` names them.

    Raises
    ------
    ConfigError
        Naming ``key``, the function and what its signature lacks.
    """
    call = "f(frame, " + ", ".join(f"{k}=..." for k in keywords) + ")"
    label = getattr(fn, "__module__", "?") + ":" + getattr(fn, "__qualname__", repr(fn))
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # no signature to check (a builtin): the call itself will tell
    try:
        extra = [k for k in optional if k in sig.parameters]
        sig.bind(*([None] * positional), **dict.fromkeys([*keywords, *extra], 0.0))
    except TypeError as exc:
        raise ConfigError(
            f"{key}: {label + str(sig)!r} cannot be called as {call}: {exc}; it must take the "
            "events and one keyword per shape nuisance (physical values)"
        ) from None
