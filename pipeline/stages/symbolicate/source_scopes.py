"""Function names from the original source (the map's ``sourcesContent``), parsed with
tree-sitter: the enclosing function of a mapped position, named as its author wrote it.

symbolic names a scope from the *minified* code. terser turns single-use functions into
nameless expressions and moves functions into object literals, so that name is empty or the
minifier's; the original source still says ``function taxFor`` or ``class Money { allocate``.
"""

from __future__ import annotations

import orjson
import tree_sitter_javascript
from tree_sitter import Language, Node, Parser, Tree

_JAVASCRIPT = Language(tree_sitter_javascript.language())
_FUNCTIONS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "function_expression",
        "generator_function",
        "arrow_function",
        "method_definition",
    }
)
_CLASSES = frozenset({"class_declaration", "class"})


class SourceScopes:
    """One original source file, parsed once; not thread-safe to build, safe to query."""

    def __init__(self, text: str) -> None:
        self._lines = text.split("\n")
        self._tree: Tree = Parser(_JAVASCRIPT).parse(text.encode())

    def function_at(self, line: int, col: int) -> str | None:
        """The name of the innermost function around 1-based ``line``:``col``; None when it
        is anonymous (a callback), or when the position is outside any function."""
        if not 1 <= line <= len(self._lines):
            return None
        prefix = self._lines[line - 1][: max(col - 1, 0)]
        point = (line - 1, len(prefix.encode()))
        node: Node | None = self._tree.root_node.descendant_for_point_range(point, point)
        while node is not None and node.type not in _FUNCTIONS:
            node = node.parent
        return None if node is None else _function_name(node)


def _function_name(node: Node) -> str | None:
    if node.type == "method_definition":
        method = _text(node.child_by_field_name("name"))
        owner = _class_name(node)
        if owner is None:
            return method
        return owner if method == "constructor" else f"{owner}.{method}"
    own = _text(node.child_by_field_name("name"))
    if own is not None:
        return own
    parent = node.parent
    if parent is None:
        return None
    if parent.type == "variable_declarator":
        return _text(parent.child_by_field_name("name"))
    if parent.type == "pair":
        return _text(parent.child_by_field_name("key"))
    if parent.type == "assignment_expression":
        return _text(parent.child_by_field_name("left"))
    if parent.type == "export_statement":
        return "default"
    return None


def _class_name(method: Node) -> str | None:
    body = method.parent
    cls = body.parent if body is not None else None
    if cls is None or cls.type not in _CLASSES:
        return None
    name = _text(cls.child_by_field_name("name"))
    if name is None and cls.parent is not None and cls.parent.type == "variable_declarator":
        name = _text(cls.parent.child_by_field_name("name"))
    return name


def _text(node: Node | None) -> str | None:
    if node is None or node.text is None:
        return None
    return node.text.decode(errors="replace")


class OriginalSources:
    """The ``sourcesContent`` of one map, each file parsed on its first lookup."""

    def __init__(self, sourcemap: bytes) -> None:
        self._contents: dict[str, str] = {}
        self._scopes: dict[str, SourceScopes] = {}
        try:
            data = orjson.loads(sourcemap)
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        root = data.get("sourceRoot") if isinstance(data.get("sourceRoot"), str) else ""
        sources, contents = data.get("sources"), data.get("sourcesContent")
        if not isinstance(sources, list) or not isinstance(contents, list):
            return
        for source, content in zip(sources, contents, strict=False):
            if isinstance(source, str) and isinstance(content, str):
                self._contents[source] = content
                if root:
                    self._contents[root.rstrip("/") + "/" + source] = content

    def has(self, src: str) -> bool:
        return src in self._contents

    def function_at(self, src: str, line: int, col: int) -> str | None:
        scopes = self._scopes.get(src)
        if scopes is None:
            content = self._contents.get(src)
            if content is None:
                return None
            # Two threads may both parse a file the first time: the same result, kept once.
            scopes = self._scopes[src] = SourceScopes(content)
        return scopes.function_at(line, col)
