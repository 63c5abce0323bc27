"""Configuration: repoqa.toml, then REPOQA_* variables, then command-line flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from indexer.errors import IndexerError
from indexer.options import IndexOptions

CONFIG_FILE = "repoqa.toml"
ENV_PREFIX = "REPOQA_"


class ConfigError(IndexerError):
    """A configuration file or variable that cannot be used."""


def _coerce(name: str, value: object, default: object) -> object:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if isinstance(default, int):
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(default, float):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if isinstance(default, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list):
            return tuple(str(v) for v in value)
        raise ConfigError(f"{name}: expected a list, got {value!r}")
    return value


def index_options(root: Path, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, object] | None = None) -> IndexOptions:
    """IndexOptions for `root`: defaults < [index] in repoqa.toml < REPOQA_<FIELD> < overrides."""
    env = os.environ if env is None else env
    defaults = IndexOptions()
    fields = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(IndexOptions)}
    values: dict[str, object] = {}
    path = root / CONFIG_FILE
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        section = data.get("index", {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [index] must be a table")
        for key, value in section.items():
            if key not in fields:
                raise ConfigError(f"{path}: unknown option index.{key} (known: {', '.join(sorted(fields))})")
            values[key] = _coerce(f"index.{key}", value, fields[key])
    for key, default in fields.items():
        var = ENV_PREFIX + key.upper()
        if var in env:
            values[key] = _coerce(var, env[var], default)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(f"--{key.replace('_', '-')}", value, fields[key])
    return dataclasses.replace(defaults, **values)
