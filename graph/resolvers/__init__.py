"""One resolver per language family; adding a language is adding a module here."""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context
from .base import FAMILIES, LanguageSupport
from .cfamily import CFamilySupport
from .ecmascript import EcmaScriptSupport
from .go import GoSupport
from .java import JavaSupport
from .python import PythonSupport
from .rust import RustSupport

_SUPPORT: dict[str, Callable[[Context], LanguageSupport]] = {
    "c": CFamilySupport,
    "python": PythonSupport,
    "rust": RustSupport,
    "ecmascript": EcmaScriptSupport,
    "go": GoSupport,
    "java": JavaSupport,
}


def support_for(ctx: Context, language: str) -> LanguageSupport | None:
    """The resolver for `language` in this context (made once per context)."""
    family = FAMILIES.get(language)
    if family is None or family not in _SUPPORT:
        return None
    cache = ctx.memo["support"]
    if family not in cache:
        cache[family] = _SUPPORT[family](ctx)
    return cache[family]
