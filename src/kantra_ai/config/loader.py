"""Find, read, check and layer the config files, remembering where every value came from.

Precedence, highest first: a command-line flag (handled in `config.cli`), the file given with
`--config PATH`, `./.kantra-ai.yaml`, the user's file (`~/.kantra-ai.yaml`, else
`$XDG_CONFIG_HOME/kantra-ai/config.yaml`), the defaults. Files are layered key by key: a file sets
only what it names, sections merge, lists and values replace. Relative paths in a file are taken
relative to that file's directory.

Unknown keys are warnings (naming key and file, with a suggestion); a bad value is an error of one
line naming file, key, value and what is allowed.
"""

from __future__ import annotations

import difflib
import io
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from kantra_ai._fs import visible_file, write_atomic
from kantra_ai.config.settings import BINDINGS, Settings

CONFIG_NAME = ".kantra-ai.yaml"
XDG_CONFIG = Path("kantra-ai") / "config.yaml"
_SECRET_WORDS = ("api-key", "api_key", "apikey", "token", "secret", "password")
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A config file that cannot be used: one line, naming the file."""


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    label: str  # how messages and `config show` name it


@dataclass
class LoadedConfig:
    settings: Settings = field(default_factory=Settings)
    origins: dict[str, str] = field(default_factory=dict)  # dotted key -> file label (set keys only)
    files: list[ConfigFile] = field(default_factory=list)  # lowest precedence first
    warnings: list[str] = field(default_factory=list)

    def is_set(self, key: str) -> bool:
        return key in self.origins or any(k.startswith(key + ".") for k in self.origins)

    def origin(self, key: str) -> str:
        """The label of the file that set `key` (or part of it), else "default"."""
        if key in self.origins:
            return self.origins[key]
        for k, label in self.origins.items():
            if k.startswith(key + "."):
                return label
        return "default"

    def value(self, key: str) -> Any:
        """The effective value of a dotted key, e.g. "confidence.complexity-thresholds.high"."""
        current: Any = self.settings
        for part in key.split("."):
            if isinstance(current, BaseModel):
                name = _field_name(type(current), part)
                current = getattr(current, name)
            elif isinstance(current, Mapping):
                current = current[part]
            else:
                raise KeyError(key)
        return current

    def default_map(self, command: str, params: set[str]) -> dict[str, Any]:
        """Values the files set for this command's parameters, in command-line form."""
        result: dict[str, Any] = {}
        for key, binding in BINDINGS.items():
            if binding.param not in params or (binding.commands and command not in binding.commands):
                continue
            if not self.is_set(key):
                continue
            value = self.value(key)
            if value is not None:
                result[binding.param] = plain(value)
        # Two keys, one flag: `verification.enabled: true` with `type: test` is `--verify test`.
        if "verify" in params and self.is_set("verification.enabled"):
            verification = self.settings.verification
            result["verify"] = verification.type if verification.enabled else "off"
        return result


def plain(value: Any) -> Any:
    """Paths and enums as the strings a command line would give."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _field_name(model: type[BaseModel], alias: str) -> str:
    for name, info in model.model_fields.items():
        if (info.alias or name) == alias:
            return name
    raise KeyError(alias)


def _display(path: Path, home: Path) -> str:
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return str(path)


def discover(
    explicit: Path | None,
    *,
    cwd: Path,
    home: Path,
    env: Mapping[str, str],
    warnings: list[str] | None = None,
) -> list[ConfigFile]:
    """The config files that apply, lowest precedence first."""
    found: list[ConfigFile] = []
    xdg_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    users = [p for p in (home / CONFIG_NAME, xdg_home / XDG_CONFIG) if visible_file(p)]
    if users:
        # One user file: ~/.kantra-ai.yaml (the predecessor's place) wins over the XDG location.
        found.append(ConfigFile(users[0], _display(users[0], home)))
        if len(users) > 1 and warnings is not None:
            warnings.append(
                f"{_display(users[1], home)}: ignored, {_display(users[0], home)} is used instead"
            )
    project = cwd / CONFIG_NAME
    if visible_file(project):
        found.append(ConfigFile(project, f"./{CONFIG_NAME}"))
    if explicit is not None:
        path = explicit.expanduser()
        if path.is_dir():
            raise ConfigError(f"--config {explicit}: a folder, not a config file")
        if not visible_file(path):
            raise ConfigError(f"--config {explicit}: no such file")
        found.append(ConfigFile(path, str(explicit)))
    # The same file reached twice (cwd is home, --config ./.kantra-ai.yaml) counts once, at its
    # highest precedence.
    unique: dict[Path, ConfigFile] = {}
    for item in found:
        unique.pop(item.path.resolve(), None)
        unique[item.path.resolve()] = item
    return list(unique.values())


def load_config(
    explicit: Path | None = None,
    *,
    cwd: Path | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Discover, read, check and layer the config files."""
    warnings: list[str] = []
    files = discover(
        explicit,
        cwd=cwd or Path.cwd(),
        home=home or Path.home(),
        env=os.environ if env is None else env,
        warnings=warnings,
    )
    loaded = LoadedConfig(files=files, warnings=warnings)
    merged: dict[str, Any] = {}
    for item in files:
        layer = read_config_file(item, loaded.warnings)
        _merge(merged, layer, item.label, loaded.origins)
    loaded.settings = Settings.model_validate(merged)
    return loaded


class _UniqueKeys(yaml.SafeLoader):
    """YAML as the config files are read: a key given twice in one mapping is an error, not the
    last one silently winning (`limits: {max-cost: 5}` and, further down, `max-cost: 500`). Config
    files are small: the pure-Python loader costs nothing here."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # an unhashable key is refused by the constructor itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_config_file(item: ConfigFile, warnings: list[str]) -> dict[str, Any]:
    """One file's settings: only the keys it sets, validated, relative paths resolved."""
    try:
        text = item.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{item.label}: cannot read: {exc}") from exc
    try:
        raw = yaml.load(text, Loader=_UniqueKeys)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise ConfigError(f"{item.label}:{where}: not valid YAML: {problem}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{item.label}: expected a mapping of sections, found {type(raw).__name__}")
    known = _strip_unknown(raw, Settings, "", item.label, warnings)
    try:
        settings = Settings.model_validate(known)
    except ValidationError as exc:
        raise ConfigError(_describe(item.label, exc)) from None
    dumped = settings.model_dump(by_alias=True, exclude_unset=True)
    resolved = _resolve_paths(dumped, item.path.parent)
    assert isinstance(resolved, dict)
    return resolved


# --- unknown keys ----------------------------------------------------------------------------------


def _nested_model(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """("model" | "dict" | "list", Model) when a field holds a section, a map or a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return "dict", args[1]
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return "list", args[0]
    return None


def _all_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        dotted = prefix + (info.alias or name)
        keys.append(dotted)
        nested = _nested_model(info.annotation)
        if nested and nested[0] == "model":
            keys += _all_keys(nested[1], dotted + ".")
    return keys


def _strip_unknown(
    raw: Mapping[Any, Any], model: type[BaseModel], prefix: str, label: str, warnings: list[str]
) -> dict[str, Any]:
    fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key)
        dotted = prefix + name
        info = fields.get(name)
        if info is None:
            warnings.append(_unknown_key(label, dotted, model, prefix))
            continue
        nested = _nested_model(info.annotation)
        if nested is None:
            out[name] = value
        elif nested[0] == "model" and isinstance(value, Mapping):
            out[name] = _strip_unknown(value, nested[1], dotted + ".", label, warnings)
        elif nested[0] == "dict" and isinstance(value, Mapping):
            out[name] = {
                k: _strip_unknown(v, nested[1], f"{dotted}.{k}.", label, warnings)
                if isinstance(v, Mapping)
                else v
                for k, v in value.items()
            }
        elif nested[0] == "list" and isinstance(value, list):
            out[name] = [
                _strip_unknown(v, nested[1], f"{dotted}[{i}].", label, warnings)
                if isinstance(v, Mapping)
                else v
                for i, v in enumerate(value)
            ]
        else:
            out[name] = value  # the wrong shape: validation names it
    return out


def _unknown_key(label: str, dotted: str, model: type[BaseModel], prefix: str) -> str:
    leaf = dotted[len(prefix) :]
    if any(word in leaf.lower() for word in _SECRET_WORDS):
        return (
            f"{label}: key '{dotted}' ignored: secrets are never read from config files; set the "
            "provider's environment variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...)"
        )
    siblings = [prefix + (info.alias or name) for name, info in model.model_fields.items()]
    candidates = siblings + (_all_keys(Settings) if prefix == "" else [])
    close = difflib.get_close_matches(dotted.replace("_", "-"), candidates, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{label}: unknown key '{dotted}' (ignored){hint}"


# --- validation errors -----------------------------------------------------------------------------


def _key_of(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "(top level)"


def _show(value: Any) -> str:
    """A wrong value as the message quotes it; a mapping or a list by its shape alone: it may hold
    a key someone put where a section belongs (`provider: [{api-key: ...}]`)."""
    if isinstance(value, dict):
        return f"(a mapping of {len(value)} keys)"
    if isinstance(value, list | tuple):
        return f"(a list of {len(value)} items)"
    text = " ".join(repr(plain(value)).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(label: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    key = _key_of(tuple(first["loc"]))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    kind = first["type"]
    if kind == "missing":
        return f"{label}: {key}: required key is missing{more}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        allowed = "expected a mapping of keys"
    elif kind == "path_type":  # pydantic's own words name a Python class
        allowed = "expected a path"
    else:
        allowed = str(first["msg"]).removeprefix("Value error, ").replace("Input should be", "expected")
    return f"{label}: {key}: invalid value {_show(first.get('input'))}: {allowed}{more}"


# --- layering --------------------------------------------------------------------------------------


def _resolve_paths(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        expanded = value.expanduser()
        return expanded if expanded.is_absolute() else base / expanded
    if isinstance(value, dict):
        return {k: _resolve_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_paths(v, base) for v in value]
    return value


def _merge(
    into: dict[str, Any], layer: Mapping[str, Any], label: str, origins: dict[str, str], prefix: str = ""
) -> None:
    """Layer `layer` over `into`: mappings merge key by key, anything else replaces."""
    for key, value in layer.items():
        dotted = prefix + key
        replaced = not (isinstance(value, dict) and isinstance(into.get(key), dict))
        if replaced:
            for stale in [k for k in origins if k == dotted or k.startswith(dotted + ".")]:
                del origins[stale]
        if isinstance(value, dict):
            if replaced:
                into[key] = {}
                if not value:
                    origins[dotted] = label
            _merge(into[key], value, label, origins, dotted + ".")
        else:
            into[key] = value
            origins[dotted] = label


# --- writing ---------------------------------------------------------------------------------------


def update_config_file(path: Path, changes: Mapping[str, Any], *, label: str | None = None) -> list[str]:
    """Set (or, for None, remove) dotted keys in one config file, checked as `load_config` checks a
    file: a bad value is a ConfigError of one line and nothing is written. The file is edited, not
    regenerated: its comments, key order, quoting and the keys `changes` does not name are kept
    (ruamel.yaml's round trip); the result is read back with the loader every command uses and
    validated before it replaces the file, atomically. Returns the file's warnings (unknown keys
    it already had)."""
    item = ConfigFile(path, label or str(path))
    document: Any = CommentedMap()
    if path.is_file():
        try:
            loaded = _round_trip().load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, RuamelError) as exc:
            raise ConfigError(f"{item.label}: cannot read it to change it: {_one_line(str(exc))}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{item.label}: expected a mapping of sections, found {type(loaded).__name__}")
        document = loaded if loaded is not None else CommentedMap()
    for key, value in changes.items():
        _set_key(document, key.split("."), value)
    out = io.StringIO()
    _round_trip().dump(document, out)
    text = out.getvalue() if document else ""
    raw = yaml.load(text, Loader=_YAML_LOADER) or {}  # as every command will read it
    warnings: list[str] = []
    known = _strip_unknown(raw, Settings, "", item.label, warnings)
    try:
        Settings.model_validate(known)
    except ValidationError as exc:
        raise ConfigError(_describe(item.label, exc)) from None
    write_atomic(path, text)
    return warnings


def _round_trip() -> YAML:
    """ruamel.yaml's round-trip mode: what it does not change, it writes back as it was."""
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 100
    return rt


def _as_written(value: Any) -> Any:
    """A string that the loader (YAML 1.1) would read as something else (`on`, `yes`, `1e3`, `~`)
    is written quoted; ruamel.yaml writes YAML 1.2, where those are plain strings."""
    if isinstance(value, str):
        try:
            plain = yaml.load(value, Loader=_YAML_LOADER) == value
        except yaml.YAMLError:
            plain = False
        return value if plain else DoubleQuotedScalarString(value)
    if isinstance(value, list):
        return [_as_written(v) for v in value]
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _set_key(into: dict[str, Any], parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        if value is None:
            into.pop(head, None)
        else:
            into[head] = _as_written(value)
        return
    section = into.get(head)
    if not isinstance(section, dict):
        if value is None:
            return
        section = into[head] = CommentedMap()
    _set_key(section, rest, value)
    if not section:
        del into[head]
