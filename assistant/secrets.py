"""Credentials masked out of any text before it is sent to a model.

Detectors find spans in the original text (private key blocks, cloud and service tokens,
JWTs, bearer headers, passwords in URLs, secret-looking assignments of string literals, every
value of a `.env` file); overlapping finds are resolved once, and each span is replaced by
`[MASKED:kind]` plus as many newlines as it covered, so line numbers stay right.

Precision matters as much as recall: `password = request.form["password"]` or
`token = self.next()` is code, not a secret, and is left alone. Only literal values are masked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import NamedTuple

from retrieval.bundle_types import Bundle, BundleUnit

MASK = "[MASKED:{kind}]"


class Masked(NamedTuple):
    text: str
    count: int  # secrets masked
    kinds: tuple[str, ...]  # their kinds, sorted, each once


class _Find(NamedTuple):
    start: int
    end: int
    kind: str


# Tokens with a recognisable shape: (kind, pattern); group "s" is the secret when present.
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("aws_access_key", r"\b(?P<s>(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[0-9A-Z]{16})\b"),
    ("github_token", r"\b(?P<s>gh[pousr]_[A-Za-z0-9]{36,255})\b"),
    ("github_token", r"\b(?P<s>github_pat_[A-Za-z0-9_]{50,255})\b"),
    ("gitlab_token", r"\b(?P<s>gl(?:pat|dt|rt|ptt|cbt|soat|ft|imt|agent)-[A-Za-z0-9_\-]{20,})"),
    ("slack_token", r"\b(?P<s>xox[abposre]-[A-Za-z0-9\-]{10,})"),
    ("slack_webhook", r"(?P<s>https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]{20,})"),
    ("stripe_key", r"\b(?P<s>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,})\b"),
    ("stripe_key", r"\b(?P<s>whsec_[A-Za-z0-9]{24,})\b"),
    ("google_api_key", r"\b(?P<s>AIza[0-9A-Za-z_\-]{35})(?![0-9A-Za-z_\-])"),
    ("google_oauth", r"\b(?P<s>GOCSPX-[A-Za-z0-9_\-]{28})"),
    ("google_oauth", r"\b(?P<s>ya29\.[0-9A-Za-z_\-]{20,})"),
    ("openai_key", r"\b(?P<s>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,})"),
    ("anthropic_key", r"\b(?P<s>sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{80,})"),
    ("huggingface_token", r"\b(?P<s>hf_[A-Za-z0-9]{34,})\b"),
    ("npm_token", r"\b(?P<s>npm_[A-Za-z0-9]{36})\b"),
    ("pypi_token", r"\b(?P<s>pypi-AgE[A-Za-z0-9_\-]{50,})"),
    ("jwt", r"(?<![A-Za-z0-9_\-])(?P<s>eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})"),
    # AWS secret keys have no prefix: only next to a name that says what they are.
    ("aws_secret_key", r"(?i:aws_?secret(?:_?access)?_?key|secret_?access_?key)[\"']?\s*(?::|=|=>|:=)\s*[\"']?"
                       r"(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"),
    # Authorization headers, wherever they are written.
    ("bearer", r"(?i:\bbearer\s+|authorization[\"']?\s*[:=]\s*[\"']?token\s+)"
               r"(?P<s>(?=[A-Za-z0-9\-._~+/]*[0-9])[A-Za-z0-9\-._~+/]{16,}=*)(?![A-Za-z0-9\-._~+/=])"),
    ("basic_auth", r"(?i:authorization[\"']?\s*[:=]\s*[\"']?basic\s+)(?P<s>[A-Za-z0-9+/]{12,}=*)"),
    # scheme://user:password@host (password only; the user and host stay readable).
    ("url_password", r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@\"'<>]{1,128}:(?P<s>[^\s@/\"'<>]{1,256})@[\w.\-\[]"),
))

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY(?: BLOCK)?-----(?P<s>.*?)-----END \1PRIVATE KEY", re.S)

# name = "literal": names that end in a credential word (db_password, GITHUB_TOKEN, apiKey).
_NAME = (r"(?:[A-Za-z_][A-Za-z0-9_.\-]*?)?(?:password|passwd|passphrase|pwd|secret|secret_?key|token|"
         r"api_?key|apikey|access_?key|auth_?key|private_?key|signing_?key|encryption_?key|"
         r"client_?secret|credentials?)")
_ASSIGN = re.compile(
    r"(?i)(?<![A-Za-z0-9_])[\"']?(?P<name>" + _NAME + r")[\"']?"
    r"(?:\s*:\s*[A-Za-z_][\w\[\], .|]*?)?"  # a type annotation: password: str = "..."
    r"\s*(?::=|=>|=|:)\s*"
    r"(?:[bru]{0,2})(?P<q>[\"'`])(?P<s>[^\"'`\n]{1,512})(?P=q)")
# The same without quotes, for configuration files (YAML, INI, TOML, properties).
_ASSIGN_BARE = re.compile(
    r"(?im)^[ \t]*(?:export[ \t]+)?[\"']?(?P<name>" + _NAME + r")[\"']?[ \t]*(?:=|:)[ \t]*"
    r"(?P<s>[^\s\"'#;][^\s#;]{0,511})[ \t]*(?:[#;].*)?$")
_CONFIG_SUFFIXES = frozenset({".yml", ".yaml", ".ini", ".cfg", ".conf", ".properties", ".toml", ".env",
                              ".tfvars", ".config"})
_PLACEHOLDER = re.compile(
    r"^(?:\$\{?[A-Za-z_][\w.\-]*\}?|\{\{.*\}\}|\{[\w.\-]*\}|<[^>]*>|%\(?[\w.]*\)?s|%s|\*+|x+|\.\.\.|"
    r"(?:your|my|the|some|example|dummy|fake|test|sample|placeholder|changeme|redacted|none|null|"
    r"nil|true|false|undefined|empty|todo|xxx)[\w\-]*)$", re.I)
_ENV_LINE = re.compile(r"^(?P<lead>[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.\-]*[ \t]*=[ \t]*)(?P<s>.*?)[ \t]*$")


def _placeholder(value: str, name: str) -> bool:
    """Values that are not secrets: templates, env references, examples, the name itself."""
    v = value.strip()
    if len(v) < 4 or _PLACEHOLDER.match(v):
        return True
    if v.lower() == name.lower() or v.lower().replace("-", "_") == name.lower():
        return True
    if any(c.isspace() for c in v):  # prose: "Enter your password"
        return True
    if v.startswith(("[MASKED", "os.", "env.", "process.env", "$(")):
        return True
    if re.fullmatch(r"[a-z]+(?:[_.\-][a-z]+)*", v) and v.lower() in {"password", "secret", "token", "bearer",
                                                                       "basic", "api_key", "apikey", "oauth"}:
        return True
    return False


def _finds(text: str, config: bool) -> Iterator[_Find]:
    for m in _PEM.finditer(text):
        start, end = m.start("s"), m.end("s")  # the body; BEGIN and END lines stay readable
        if text.startswith("\n", start):
            start += 1
        if end > start and text[end - 1] == "\n":
            end -= 1
        yield _Find(start, end, "private_key")
    for kind, pattern in _TOKENS:
        for m in pattern.finditer(text):
            if kind in ("bearer", "url_password", "basic_auth") and _placeholder(m.group("s"), kind):
                continue
            yield _Find(m.start("s"), m.end("s"), kind)
    for m in _ASSIGN.finditer(text):
        if not _placeholder(m.group("s"), m.group("name")):
            yield _Find(m.start("s"), m.end("s"), "password_or_token")
    if config:
        for m in _ASSIGN_BARE.finditer(text):
            if not _placeholder(m.group("s"), m.group("name")):
                yield _Find(m.start("s"), m.end("s"), "password_or_token")


def _apply(text: str, finds: Iterable[_Find]) -> Masked:
    """Replace non-overlapping finds (earliest first, the longest at a tie) by masks."""
    chosen: list[_Find] = []
    for f in sorted(finds, key=lambda f: (f.start, -(f.end - f.start))):
        if f.end <= f.start:
            continue
        if chosen and f.start < chosen[-1].end:
            continue
        chosen.append(f)
    if not chosen:
        return Masked(text, 0, ())
    out, at = [], 0
    for f in chosen:
        out.append(text[at:f.start])
        out.append(MASK.format(kind=f.kind) + "\n" * text.count("\n", f.start, f.end))
        at = f.end
    out.append(text[at:])
    return Masked("".join(out), len(chosen), tuple(sorted({f.kind for f in chosen})))


def is_env_path(path: str) -> bool:
    """A dotenv file: `.env`, `.env.local`, `prod.env`, ... (any `.env*` name)."""
    name = PurePosixPath(path).name.lower()
    return name.startswith(".env") or name.endswith(".env")


def is_config_path(path: str) -> bool:
    p = PurePosixPath(path)
    return p.suffix.lower() in _CONFIG_SUFFIXES or is_env_path(path)


def mask_secrets(text: str, *, path: str = "") -> Masked:
    """`text` with credentials masked: (masked text, how many, their kinds).

    `path`, when known, widens the net: every value of a `.env` file is masked, and in
    configuration files (YAML, INI, TOML, ...) unquoted `password: value` lines are too.
    """
    if path and is_env_path(path):
        return mask_env(text)
    return _apply(text, _finds(text, config=bool(path) and is_config_path(path)))


def mask_env(text: str) -> Masked:
    """Every value of a dotenv file masked (`KEY=[MASKED:env_value]`), plus any key blocks."""
    finds = list(_finds(text, config=True))
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        m = _ENV_LINE.match(body)
        if m and not body.lstrip().startswith("#") and m.group("s").strip("\"'"):
            finds.append(_Find(offset + m.start("s"), offset + m.end("s"), "env_value"))
        offset += len(line)
    return _apply(text, finds)


def mask_unit(unit: BundleUnit) -> tuple[BundleUnit, int, tuple[str, ...]]:
    """The unit with its text masked (a `.env*` unit is masked whole, value by value)."""
    masked = mask_secrets(unit.text, path=unit.path)
    if not masked.count:
        return unit, 0, ()
    return dataclasses.replace(unit, text=masked.text), masked.count, masked.kinds


def mask_bundle(bundle: Bundle) -> tuple[Bundle, int, tuple[str, ...]]:
    """A copy of the bundle with every credential masked in its map and units."""
    total, kinds = 0, set()
    units = []
    for u in bundle.units:
        mu, n, k = mask_unit(u)
        units.append(mu)
        total += n
        kinds.update(k)
    repo_map = mask_secrets(bundle.repo_map)
    total += repo_map.count
    kinds.update(repo_map.kinds)
    if not total:
        return bundle, 0, ()
    return dataclasses.replace(bundle, units=units, repo_map=repo_map.text), total, tuple(sorted(kinds))
