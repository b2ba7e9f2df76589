"""Catch edits that break a file's syntax, with tree-sitter, before they reach the disk.

Java and XML (pom.xml included) always work: their grammars are dependencies. Other languages are
checked when their `tree_sitter_<lang>` package happens to be installed, and skipped otherwise: an
unsupported file is never reported as broken.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import PurePath
from typing import Any

from tree_sitter import Language, Node, Parser

# file suffix -> (module, function returning the grammar)
_GRAMMARS: dict[str, tuple[str, str]] = {
    ".java": ("tree_sitter_java", "language"),
    ".xml": ("tree_sitter_xml", "language_xml"),
    ".pom": ("tree_sitter_xml", "language_xml"),
    ".xsd": ("tree_sitter_xml", "language_xml"),
    ".xsl": ("tree_sitter_xml", "language_xml"),
    ".xslt": ("tree_sitter_xml", "language_xml"),
    ".wsdl": ("tree_sitter_xml", "language_xml"),
    ".tld": ("tree_sitter_xml", "language_xml"),
    ".fxml": ("tree_sitter_xml", "language_xml"),
    # Only if installed:
    ".json": ("tree_sitter_json", "language"),
    ".yaml": ("tree_sitter_yaml", "language"),
    ".yml": ("tree_sitter_yaml", "language"),
    ".properties": ("tree_sitter_properties", "language"),
    ".kt": ("tree_sitter_kotlin", "language"),
    ".kts": ("tree_sitter_kotlin", "language"),
    ".groovy": ("tree_sitter_groovy", "language"),
    ".gradle": ("tree_sitter_groovy", "language"),
    ".py": ("tree_sitter_python", "language"),
    ".js": ("tree_sitter_javascript", "language"),
    ".ts": ("tree_sitter_typescript", "language_typescript"),
    ".tsx": ("tree_sitter_typescript", "language_tsx"),
    ".go": ("tree_sitter_go", "language"),
}

_SNIPPET_CHARS = 40

_languages: dict[tuple[str, str], Language | None] = {}
_languages_lock = threading.Lock()
# Parsers keep per-parse state and are not safe to share between threads; one set per thread.
_local = threading.local()


def _language(key: tuple[str, str]) -> Language | None:
    with _languages_lock:
        if key not in _languages:
            try:
                module: Any = importlib.import_module(key[0])
                _languages[key] = Language(getattr(module, key[1])())
            except (ImportError, AttributeError, ValueError, TypeError):
                # Not installed, or built for an incompatible tree-sitter ABI: treat as unsupported.
                _languages[key] = None
        return _languages[key]


def _parser_for(path: str) -> Parser | None:
    key = _GRAMMARS.get(PurePath(path).suffix.lower())
    if key is None:
        return None
    parsers: dict[tuple[str, str], Parser] = _local.__dict__.setdefault("parsers", {})
    parser = parsers.get(key)
    if parser is None:
        language = _language(key)
        if language is None:
            return None
        parser = parsers[key] = Parser(language)
    return parser


def is_supported(path: str) -> bool:
    return _parser_for(path) is not None


def syntax_error(path: str, text: str) -> str | None:
    """A one-line description of the first syntax error in `text`, or None if it parses (or the
    language of `path` is not supported)."""
    parser = _parser_for(path)
    if parser is None:
        return None
    data = text.encode("utf-8", errors="surrogatepass")
    root = parser.parse(data).root_node
    if not root.has_error:
        return None
    node = _first_error(root)
    if node is None:  # has_error without a visible node should not happen; still report it
        return "syntax error"
    return _describe(node, data)


def breaks_syntax(path: str, before: str, after: str) -> str | None:
    """The error `after` introduces, or None. A file that was already broken is not held against
    the edit: its errors would otherwise block every fix to it."""
    if syntax_error(path, before) is not None:
        return None
    return syntax_error(path, after)


def _first_error(node: Node) -> Node | None:
    """The first ERROR or MISSING node in document order, preferring the most specific one."""
    for child in node.children:
        if child.is_missing:
            return child
        if child.is_error:
            return _first_error(child) or child
        if child.has_error:
            found = _first_error(child)
            if found is not None:
                return found
    return node if node.is_error or node.is_missing else None


def _describe(node: Node, data: bytes) -> str:
    start = node.start_byte
    if node.is_error:
        # An ERROR node often wraps well-formed pieces before the stray tokens it could not place
        # (XML puts the whole document in it): the first bare token is where things went wrong.
        # Punctuation ("</", ")") before named leaves (text, names), which are often innocent.
        leaves = [child for child in node.children if child.child_count == 0]
        leaf = next((child for child in leaves if not child.is_named), leaves[0] if leaves else None)
        if leaf is not None:
            start = leaf.start_byte
        elif node.end_byte >= len(data.rstrip()):
            return f"{_where(data, len(data.rstrip()))}: unexpected end of file (something is not closed)"
    if node.is_missing:
        return f"{_where(data, start)}: missing {node.type!r}"
    snippet = " ".join(data[start : node.end_byte].decode("utf-8", errors="replace").split())
    if len(snippet) > _SNIPPET_CHARS:
        snippet = snippet[: _SNIPPET_CHARS - 3] + "..."
    where = _where(data, start)
    return f"{where}: unexpected {snippet!r}" if snippet else f"{where}: syntax error"


def _where(data: bytes, offset: int) -> str:
    """Where `offset` is, as "line L, column C", both 1-based, the column counted in characters, not bytes."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    line = data.count(b"\n", 0, offset) + 1
    return f"line {line}, column {column}"
