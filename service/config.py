"""Configuration: repoqa.toml, then REPOQA_* variables, then command-line flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from indexer.embed import EmbedOptions
from indexer.errors import IndexerError
from indexer.options import IndexOptions
from indexer.vectors import VectorOptions

T = TypeVar("T")

CONFIG_FILE = "repoqa.toml"
ENV_PREFIX = "REPOQA_"

MAX_ANSWER_TOKENS = 100_000  # the most an answer may ask for (`ask --max-tokens`, the Ask RPC)


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


def _read_toml(root: Path) -> dict:
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def load_section(cls: type[T], root: Path, section: str, env_prefix: str,
                 env: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None) -> T:
    """`cls` (a frozen options dataclass) from defaults < [section] in repoqa.toml <
    env_prefix + FIELD variables < overrides (flags; None means not given)."""
    env = os.environ if env is None else env
    defaults = cls()
    fields = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, object] = {}
    table = _read_toml(root).get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{root / CONFIG_FILE}: [{section}] must be a table")
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{root / CONFIG_FILE}: unknown option {section}.{key} "
                              f"(known: {', '.join(sorted(fields))})")
        values[key] = _coerce(f"{section}.{key}", value, fields[key])
    for key, default in fields.items():
        var = env_prefix + key.upper()
        if var in env:
            values[key] = _coerce(var, env[var], default)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(f"--{key.replace('_', '-')}", value, fields[key])
    return dataclasses.replace(defaults, **values)  # type: ignore[type-var]


def bundle_options(root: Path, env: Mapping[str, str] | None = None,
                   overrides: Mapping[str, object] | None = None):
    """[bundle] in repoqa.toml, REPOQA_BUNDLE_<OPTION> variables, flags. Without a tokenizer
    of its own, the bundle counts with the one configured for the generator (the target model)."""
    import dataclasses

    from retrieval.bundle import BundleOptions

    opts = load_section(BundleOptions, root, "bundle", ENV_PREFIX + "BUNDLE_", env, overrides)
    if not opts.tokenizer:
        opts = dataclasses.replace(opts, tokenizer=generator_options(root, env).tokenizer)
    return opts


def generator_options(root: Path, env: Mapping[str, str] | None = None,
                      overrides: Mapping[str, object] | None = None):
    """[generator] in repoqa.toml, REPOQA_GENERATOR_<OPTION> variables, flags."""
    from assistant.generators import GeneratorOptions

    return load_section(GeneratorOptions, root, "generator", ENV_PREFIX + "GENERATOR_", env, overrides)


def index_options(root: Path, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, object] | None = None) -> IndexOptions:
    """[index] in repoqa.toml, REPOQA_<OPTION> variables, flags."""
    return load_section(IndexOptions, root, "index", ENV_PREFIX, env, overrides)


def embed_options(root: Path, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, object] | None = None) -> EmbedOptions:
    """[embed] in repoqa.toml, REPOQA_EMBED_<OPTION> variables, flags."""
    return load_section(EmbedOptions, root, "embed", ENV_PREFIX + "EMBED_", env, overrides)


def vector_options(root: Path, env: Mapping[str, str] | None = None,
                   overrides: Mapping[str, object] | None = None) -> VectorOptions:
    """[vectors] in repoqa.toml, REPOQA_VECTORS_<OPTION> variables, flags."""
    return load_section(VectorOptions, root, "vectors", ENV_PREFIX + "VECTORS_", env, overrides)
