"""Read and write plain YAML (mappings, lists and untagged scalars: all an analyzer or a plan holds)
straight through libyaml's events, two to three times as fast as `yaml.load` and `yaml.dump`, and
without their node trees.

`yaml.load` first builds a node for every scalar of the document (with two position marks each: about
4 KB per incident, 476 MB for 100,000 of them) and then a Python object per node in pure Python. Here
each event becomes its Python object at once, scalars resolved exactly as PyYAML's SafeLoader resolves
them, and equal strings are stored once (an analysis repeats every rule's message per incident).
Anything beyond plain YAML (tags, anchors and aliases, merge keys, complex keys, several documents,
a syntax error) raises `NotPlain`: the caller then loads the file with `yaml.load`, which reads all
of YAML and words the errors. `dump_plain` writes what `yaml.dump` writes (same styles, same line
breaks), and hands anything but dicts, lists and scalars back the same way.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import IO, Protocol

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.resolver import Resolver

_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


def _maybe_typed(resolver: Resolver) -> frozenset[str]:
    """The first characters of the plain scalars that may be something else than text ("true",
    "12", "~", "2024-01-01"...) to this resolver; any other plain scalar is text without asking."""
    return frozenset(key for key in resolver.yaml_implicit_resolvers if key)


class NotPlain(Exception):
    """The document uses more of YAML than this reader handles (or is not valid YAML)."""


class Readable(Protocol):
    """A binary stream as libyaml reads one: a chunk of at most `size` bytes, b"" at its end."""

    def read(self, size: int = -1, /) -> bytes: ...


# A key whose list's items are handed to a function as each is read, and the function: what it
# returns is kept instead of the item (an analysis' incidents, made compact before the next is read).
ItemsRead = tuple[str, Callable[[object], object]]


def load_plain(data: bytes | Readable, *, items: ItemsRead | None = None) -> object:
    """The document in `data` (the text, or a binary stream read a chunk at a time), as
    `yaml.load(data, Loader=yaml.CSafeLoader)` would return it; with `items`, every item of a list
    under that key (at any depth) as the function made it."""
    reader = _Reader(data, items)
    try:
        return reader.document()
    except (yaml.YAMLError, RecursionError) as exc:  # nested deeper than Python's stack: yaml.load's C
        raise NotPlain(str(exc)) from exc
    finally:
        reader.dispose()


class _Reader:
    def __init__(self, data: bytes | Readable, items: ItemsRead | None) -> None:
        self._loader = yaml.CSafeLoader(data)
        self._next: Callable[[], Event | None] = self._loader.get_event
        self._maybe_typed = _maybe_typed(self._loader)  # the loader's own rules, as yaml.load's
        self._strings: dict[str, str] = {}
        self._items_key: str | None = items[0] if items is not None else None
        self._item: Callable[[object], object] | None = items[1] if items is not None else None

    def dispose(self) -> None:
        self._loader.dispose()
        self._strings.clear()

    def document(self) -> object:
        self._next()  # the stream's start
        first = self._next()
        if isinstance(first, StreamEndEvent):
            return None  # no document: yaml.load returns None too
        value = self._value(self._next())
        self._next()  # the document's end
        if not isinstance(self._next(), StreamEndEvent):
            raise NotPlain("more than one document")
        return value

    def _value(self, event: Event | None) -> object:
        kind = type(event)
        if isinstance(event, ScalarEvent):
            return self._scalar(event)
        if getattr(event, "anchor", None) is not None or getattr(event, "tag", None) is not None:
            raise NotPlain("an anchor or a tag")
        if kind is MappingStartEvent:
            return self._mapping()
        if kind is SequenceStartEvent:
            return self._sequence()
        raise NotPlain(f"an alias or an unexpected {kind.__name__}")

    def _mapping(self) -> dict[object, object]:
        mapping: dict[object, object] = {}
        while True:
            event = self._next()
            kind = type(event)
            if kind is MappingEndEvent:
                return mapping
            if not isinstance(event, ScalarEvent):
                raise NotPlain("a key that is not a scalar")
            key = self._scalar(event)
            if key == "<<":
                raise NotPlain("a merge key")
            event = self._next()
            if key == self._items_key and type(event) is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None:
                    raise NotPlain("an anchor or a tag")
                mapping[key] = self._sequence(self._item)
            else:  # a repeated key: the last one wins, as in yaml.load
                mapping[key] = self._value(event)

    def _sequence(self, item: Callable[[object], object] | None = None) -> list[object]:
        items: list[object] = []
        append = items.append
        while True:
            event = self._next()
            if type(event) is SequenceEndEvent:
                return items
            append(self._value(event) if item is None else item(self._value(event)))

    def _scalar(self, event: ScalarEvent) -> object:
        if event.anchor is not None or event.tag is not None:
            raise NotPlain("an anchor or a tag")
        value: str = event.value
        if event.implicit[0] and (not value or value[0] in self._maybe_typed):
            tag = self._loader.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
            if tag != _STR_TAG:
                construct = self._loader.yaml_constructors.get(tag)
                if construct is None:
                    raise NotPlain(f"a scalar of tag {tag}")
                return construct(self._loader, yaml.ScalarNode(tag, value))
        return self._strings.setdefault(value, value)


def dump_plain(data: object, *, width: int = 100) -> str:
    """`yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=width)`
    for documents of dicts, lists, strings, numbers, booleans and None (NotPlain for anything else,
    or for a dict or list that appears twice, which `yaml.dump` would write as an alias)."""
    stream = io.StringIO()
    emit_plain(data, stream, width=width)
    return stream.getvalue()


def emit_plain(
    data: object, stream: IO[str], *, width: int = 100, clean: Callable[[str], str] | None = None
) -> None:
    """`dump_plain` written into the text stream `stream` as libyaml emits it, so that a large
    document is never one text in memory. Besides lists, any iterator
    (a generator) is written as a sequence, item by item as it yields them. `clean`, when given,
    is applied to every string (keys too) before it is written: the redaction of a report.

    Raises NotPlain as `dump_plain` does, possibly after part of the document was written."""
    dumper = yaml.CSafeDumper(stream, allow_unicode=True, width=width, sort_keys=False)
    try:
        for event in _Writer(dumper, clean).events(data):
            dumper.emit(event)
    finally:
        dumper.dispose()


class _Writer:
    """The events `yaml.dump` would emit: its representer's scalars, its serializer's flags."""

    def __init__(self, dumper: yaml.CSafeDumper, clean: Callable[[str], str] | None = None) -> None:
        self._dumper = dumper
        self._maybe_typed = _maybe_typed(dumper)  # the dumper's own rules, as yaml.dump's
        # The dicts and lists written so far, a set per iterator item being written: an item an
        # iterator yields is a new object, let go once written, and its id may come again.
        self._seen: list[set[int]] = [set()]
        self._clean = clean

    def events(self, data: object) -> Iterator[Event]:
        yield StreamStartEvent()
        yield DocumentStartEvent(explicit=None)
        yield from self._node(data)
        yield DocumentEndEvent(explicit=None)
        yield StreamEndEvent()

    def _node(self, data: object) -> Iterator[Event]:
        kind = type(data)
        if kind is str:
            yield self._scalar(_STR_TAG, data if self._clean is None else self._clean(data))  # type: ignore[arg-type]
        elif kind is dict or kind is list:
            if any(id(data) in seen for seen in self._seen):
                raise NotPlain("an object that appears twice")
            self._seen[-1].add(id(data))
            if kind is dict:
                yield MappingStartEvent(None, _MAP_TAG, True, flow_style=False)
                for key, value in data.items():  # type: ignore[attr-defined]
                    yield from self._node(key)
                    yield from self._node(value)
                yield MappingEndEvent()
            else:
                yield SequenceStartEvent(None, _SEQ_TAG, True, flow_style=False)
                for item in data:  # type: ignore[attr-defined]
                    yield from self._node(item)
                yield SequenceEndEvent()
        elif kind in (int, float, bool, type(None)):
            node = self._dumper.yaml_representers[kind](self._dumper, data)
            yield self._scalar(node.tag, node.value)
        elif isinstance(data, Iterator):  # written as it yields: never a list of the whole
            yield SequenceStartEvent(None, _SEQ_TAG, True, flow_style=False)
            for item in data:
                self._seen.append(set())
                yield from self._node(item)
                self._seen.pop()
            yield SequenceEndEvent()
        else:
            raise NotPlain(f"a {kind.__name__}")

    def _scalar(self, tag: str, value: str) -> ScalarEvent:
        # Plain when the value reads back as its own type; quoted when only quoting keeps it (a
        # string "true" or "12"), exactly the serializer's two questions to the resolver.
        if not value or value[0] in self._maybe_typed:
            plain = self._dumper.resolve(yaml.ScalarNode, value, (True, False)) == tag  # type: ignore[no-untyped-call]
        else:
            plain = tag == _STR_TAG
        return ScalarEvent(None, tag, (plain, tag == _STR_TAG), value)
