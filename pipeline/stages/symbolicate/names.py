"""Function names from the source map's scopes, cleaned of what the bundler, not the author, put
there, so a frame reads as the source does (and as Sentry shows it).

- esbuild compiles ``class Money { ... }`` that refers to itself into ``var Money = class _Money``;
  the scope of a method is then named ``Money._Money.allocate``: the inner alias is dropped.
- A native private method's scope name keeps its ``#`` and ``symbolic`` adds another
  (``Money.##share``): one is kept.
"""

from __future__ import annotations

import re

_CLASS_ALIAS = re.compile(r"(?<![\w$])([\w$]+)\._\1\.")
_DOUBLED_PRIVATE = re.compile(r"(?:^|(?<=\.))##")


def source_function_name(scope_name: str) -> str:
    name = _CLASS_ALIAS.sub(r"\1.", scope_name)
    return _DOUBLED_PRIVATE.sub("#", name)
