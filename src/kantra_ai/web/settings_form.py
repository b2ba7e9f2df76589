"""The settings page's form, read from the settings model itself: a key added to a section of
`config/settings.py` appears on the page without a template change.

A field becomes a checkbox (bool), a choice (Literal), a number (int, float), or a line of text
(str, paths, lists as comma-separated values); settings that are maps or lists of sections (the
prompt templates) are left to the file. What the form sends back is turned into the changed keys
only (a key left as it was is not pinned in the file), and written with the CLI's validation.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from kantra_ai.config.loader import LoadedConfig
from kantra_ai.config.settings import Settings
from kantra_ai.errors import UserError
from kantra_ai.redact import redact

# The sections the page shows, in this order (the provider, budget, confidence,
# verification and git first); their keys come from the model.
SECTIONS = ("provider", "limits", "confidence", "verification", "git", "plan", "batching", "filters")


@dataclass(frozen=True)
class Field:
    key: str  # dotted, as in the file: "confidence.min-confidence"
    label: str
    kind: str  # bool, choice, int, float, text, list
    optional: bool
    choices: tuple[str, ...]
    value: str  # as the form shows it
    checked: bool
    source: str  # the file that set it, or "default"
    secret_masked: bool = False  # shown masked; sent back unchanged, it is not written


@dataclass(frozen=True)
class Section:
    name: str
    fields: list[Field]


def mask_url(url: str) -> str:
    """A URL without credentials (user:password@ or query values)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = "****@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, "****" if parts.query else "", ""))


def _kind(annotation: Any) -> tuple[str, bool, tuple[str, ...]] | None:
    """(kind, optional, choices) of a field's type; None for what the form does not edit."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            return None
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if origin is Literal:
        return "choice", optional, tuple(str(a) for a in typing.get_args(annotation))
    if annotation is bool:
        return "bool", optional, ()
    if annotation is int:
        return "int", optional, ()
    if annotation is float:
        return "float", optional, ()
    if annotation in (str, Path):
        return "text", optional, ()
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "choice", optional, tuple(str(m.value) for m in annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        if item in (str, Path) or (isinstance(item, type) and issubclass(item, Enum)):
            return "list", optional, ()
    return None


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _fields(model: type[BaseModel], value: BaseModel, prefix: str, loaded: LoadedConfig) -> list[Field]:
    found: list[Field] = []
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        current = getattr(value, name)
        if isinstance(current, BaseModel):
            found += _fields(type(current), current, key + ".", loaded)
            continue
        kind = _kind(info.annotation)
        if kind is None:
            continue
        shown = _shown(current)
        masked = False
        if kind[0] == "text" and isinstance(current, str) and current.startswith(("http://", "https://")):
            masked_url = mask_url(current)
            masked, shown = masked_url != current, masked_url
        found.append(
            Field(
                key=key,
                label=(info.alias or name).replace("-", " "),
                kind=kind[0],
                optional=kind[1],
                choices=kind[2],
                value="" if kind[0] == "bool" else shown,
                checked=bool(current) if kind[0] == "bool" else False,
                source=loaded.origin(key),
                secret_masked=masked,
            )
        )
    return found


def settings_sections(loaded: LoadedConfig) -> list[Section]:
    settings = loaded.settings
    sections = []
    for name in SECTIONS:
        info = Settings.model_fields.get(name.replace("-", "_"))
        if info is None:
            continue
        value = getattr(settings, name.replace("-", "_"))
        sections.append(Section(name, _fields(type(value), value, name + ".", loaded)))
    return sections


def changed_keys(sections: list[Section], form: dict[str, list[str]]) -> dict[str, Any]:
    """The keys the person changed, with their new values (None: not set, back to the default)."""
    changes: dict[str, Any] = {}
    for section in sections:
        for field in section.fields:
            if field.kind == "bool":
                # An unchecked box sends nothing: only a box the form showed (`_shown`) can be
                # unchecked, so a post that leaves a key out (a script's) leaves it as it is.
                if field.key not in form and field.key not in form.get("_shown", []):
                    continue
                new_bool = form.get(field.key, [""])[-1] in ("on", "true", "1")
                if new_bool != field.checked:
                    changes[field.key] = new_bool
                continue
            if field.key not in form:
                continue
            text = form[field.key][-1].strip()
            if text in (field.value, redact(field.value)):
                # unchanged: a masked URL, or a value the page showed through the redaction layer
                # (web/redaction.py), sent back as shown is never written over the real one
                continue
            if "***" in text and (field.secret_masked or redact(field.value) != field.value):
                # an edit of a value shown with a part hidden (a password in a URL): written as
                # typed, the asterisks would replace the credentials in the file
                raise UserError(
                    f"{field.key}: the new value still holds the hidden part (***); type the whole "
                    "value, credentials included, or leave it as it was"
                )
            changes[field.key] = _parse(field, text)
    return changes


def _parse(field: Field, text: str) -> Any:
    if text == "":
        if field.kind == "list":
            return []
        if field.optional:
            return None
        raise UserError(f"{field.key}: a value is needed")
    if field.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise UserError(f"{field.key}: invalid value {text!r}: expected a whole number") from None
    if field.kind == "float":
        try:
            return float(text)
        except ValueError:
            raise UserError(f"{field.key}: invalid value {text!r}: expected a number") from None
    if field.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if field.kind == "choice" and text not in field.choices:
        raise UserError(f"{field.key}: invalid value {text!r}: expected one of {', '.join(field.choices)}")
    return text
