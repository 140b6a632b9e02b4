"""Keep every regular expression ``phonenumbers`` compiles, for the life of the process.

Why: ``phonenumbers`` keeps its metadata patterns as strings and compiles them at the
moment of use, through ``re.compile`` (in ``phonenumbers.re_util.re_compile``) and through
``re.match`` / ``re.sub`` / ``re.split`` called with a pattern string. Python's ``re``
caches compiled patterns in a table of ``re._MAXCACHE`` (512) entries and drops the
oldest one when it is full, but the metadata of all regions holds about 2,100 distinct
patterns. On numbers from many regions the table thrashes and nearly every pattern is
compiled again on every number: a profile of 200,000 global numbers spent 77 of 96 s in
``re.compile``.

What: :func:`install` gives each loaded ``phonenumbers`` module that uses ``re`` a
stand-in for the ``re`` module whose ``compile`` (and the functions that compile
through it: ``match``, ``fullmatch``, ``search``, ``sub``, ``subn``, ``split``,
``findall``, ``finditer``) keeps every compiled pattern in a table that is never
emptied. The key is what ``re`` itself keys its cache by, ``(type(pattern), pattern,
flags)``, so the same pattern with the same flags gives the same compiled object and
other flags another one; a compiled pattern passed in is used as it is (with flags it
is refused, as ``re`` refuses it), and ``re.DEBUG`` compiles are never kept (``re``
prints them each time). Everything else (``re.UNICODE``, ``re.Pattern``, ...) is the
real module's.

Bounded: only ``phonenumbers`` goes through the table, and it only compiles patterns
of its fixed metadata and its own constants, never the text it is asked to parse. As a
guard against a future version that did, the table keeps at most :data:`MAX_PATTERNS`
entries (about ten times the metadata's); patterns beyond it are compiled as ``re``
would, without being kept. ``re``'s own cache, and every other user of ``re`` in the
process, are untouched.

``phonenumbers`` 9.0.43 and later also offer ``enable_pattern_cache()``, which covers
``re_compile`` but not the pattern strings handed to ``re.sub``/``re.split``; this
stand-in covers both, and works with versions without it.
"""

from __future__ import annotations

import re
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["MAX_PATTERNS", "compile_kept", "install", "installed", "kept", "uninstall"]

#: The most compiled patterns kept (the metadata of every region has about 2,100).
MAX_PATTERNS = 20_000

_PACKAGE = "phonenumbers"
_Key = tuple[type, str | bytes, int]
_patterns: dict[_Key, re.Pattern[Any]] = {}
_lock = threading.Lock()
_installed = False


def compile_kept(pattern: Any, flags: int | re.RegexFlag = 0) -> re.Pattern[Any]:
    """Return ``re.compile(pattern, flags)``, compiled once per pattern, type and flags."""
    if not isinstance(pattern, str | bytes):
        # A compiled pattern is used as it is (refused with flags), anything else is refused.
        return re.compile(pattern, flags)
    key = (type(pattern), pattern, int(flags))
    compiled = _patterns.get(key)
    if compiled is not None:
        return compiled
    compiled = re.compile(pattern, flags)
    if key[2] & re.DEBUG or len(_patterns) >= MAX_PATTERNS:
        return compiled
    # Two threads compiling one pattern at once both get the first one kept.
    return _patterns.setdefault(key, compiled)


def _match(pattern: Any, string: Any, flags: int = 0) -> re.Match[Any] | None:
    """``re.match`` through the kept patterns."""
    return compile_kept(pattern, flags).match(string)


def _fullmatch(pattern: Any, string: Any, flags: int = 0) -> re.Match[Any] | None:
    """``re.fullmatch`` through the kept patterns."""
    return compile_kept(pattern, flags).fullmatch(string)


def _search(pattern: Any, string: Any, flags: int = 0) -> re.Match[Any] | None:
    """``re.search`` through the kept patterns."""
    return compile_kept(pattern, flags).search(string)


def _sub(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
    """``re.sub`` through the kept patterns."""
    return compile_kept(pattern, flags).sub(repl, string, count)


def _subn(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
    """``re.subn`` through the kept patterns."""
    return compile_kept(pattern, flags).subn(repl, string, count)


def _split(pattern: Any, string: Any, maxsplit: int = 0, flags: int = 0) -> list[Any]:
    """``re.split`` through the kept patterns."""
    return compile_kept(pattern, flags).split(string, maxsplit)


def _findall(pattern: Any, string: Any, flags: int = 0) -> list[Any]:
    """``re.findall`` through the kept patterns."""
    return compile_kept(pattern, flags).findall(string)


def _finditer(pattern: Any, string: Any, flags: int = 0) -> Iterator[re.Match[Any]]:
    """``re.finditer`` through the kept patterns."""
    return compile_kept(pattern, flags).finditer(string)


_OVERRIDES: dict[str, Callable[..., Any]] = {
    "compile": compile_kept,
    "match": _match,
    "fullmatch": _fullmatch,
    "search": _search,
    "sub": _sub,
    "subn": _subn,
    "split": _split,
    "findall": _findall,
    "finditer": _finditer,
}


class _KeepingRe(types.ModuleType):
    """The ``re`` module as ``phonenumbers`` sees it: compiling through the kept patterns."""

    def __getattr__(self, name: str) -> Any:
        """Return the real module's attribute (flags, ``Pattern``, ``escape``...)."""
        return getattr(re, name)


_STAND_IN = _KeepingRe("re", "re, with compiled patterns kept (addin.engine.pattern_cache)")
_STAND_IN.__dict__.update(_OVERRIDES)


def install() -> None:
    """Route every loaded ``phonenumbers`` module's regular expressions through the table.

    Idempotent; call it after importing ``phonenumbers`` (``addin.engine.phones`` does).
    """
    global _installed
    import phonenumbers  # noqa: F401  (its modules must be loaded to be switched)

    with _lock:
        for module in _package_modules():
            if module.__dict__.get("re") is re:
                module.__dict__["re"] = _STAND_IN
        _installed = True


def uninstall() -> None:
    """Give the ``phonenumbers`` modules the real ``re`` back (for comparisons in tests)."""
    global _installed
    with _lock:
        for module in _package_modules():
            if module.__dict__.get("re") is _STAND_IN:
                module.__dict__["re"] = re
        _installed = False


def installed() -> bool:
    """Return True when the ``phonenumbers`` modules compile through the table."""
    return _installed


def kept() -> int:
    """Return how many compiled patterns the table holds."""
    return len(_patterns)


def _package_modules() -> list[types.ModuleType]:
    """Return the loaded modules of the ``phonenumbers`` package."""
    return [
        module
        for name, module in list(sys.modules.items())
        if isinstance(module, types.ModuleType)
        and (name == _PACKAGE or name.startswith(_PACKAGE + "."))
    ]
