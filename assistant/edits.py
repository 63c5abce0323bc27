"""Edits from the model: parsed strictly, applied in memory, checked, shown as a diff, and
written only when asked, atomically per file, and only to files that have not changed since.

The format is search/replace blocks (a line with the path, `<<<<<<< SEARCH`, old lines,
`=======`, new lines, `>>>>>>> REPLACE`), or under vLLM's guided decoding the same edits as
JSON (`EDIT_SCHEMA`). A reply that is not well formed raises EditFormatError; a SEARCH that
does not match exactly one place raises EditMatchError; nothing is ever written by
`propose`, and `apply` writes nothing unless every file still has the content the proposal
was made against.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from indexer.files import fsync_path, sha256_file
from indexer.text import split_lines
from retrieval.bundle_types import Bundle

from .errors import EditError, EditFormatError, EditMatchError, EditPathError, StaleFileError
from .generators import Generator
from .prompting import edit_prompt_messages
from .secrets import mask_bundle

log = logging.getLogger(__name__)

Dependents = Callable[[str, list[tuple[int, int]]], list[str]]

EDIT_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "edits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "search": {"type": "string"},
                    "replace": {"type": "string"},
                },
                "required": ["path", "search", "replace"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["edits"],
    "additionalProperties": False,
}

_SEARCH = re.compile(r"^<{5,9}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^={5,9}\s*$")
_REPLACE = re.compile(r"^>{5,9}\s*REPLACE\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _current_umask() -> int:
    try:  # Linux states it; reading it elsewhere means setting it, briefly
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@dataclass(frozen=True)
class EditBlock:
    path: str
    search: str  # "" creates a new file
    replace: str


# --- parsing -----------------------------------------------------------------------------


def _clean_path(line: str) -> str:
    p = line.strip()
    for prefix in ("#", "File:", "file:", "Path:", "path:"):
        if p.startswith(prefix):
            p = p[len(prefix):].strip()
    p = p.strip("`*\"'").rstrip(":").strip("`*\"'").strip()
    return p


def _first_lines(text: str, n: int = 3) -> str:
    lines = split_lines(text)
    more = "\n    ..." if len(lines) > n else ""
    return "\n".join(f"    {line}" for line in lines[:n] or ["(empty)"]) + more


def _until(lines: list[str], i: int, end, stray: tuple, where: str, marker: str,
           what: str) -> tuple[list[str], int]:
    """The lines from `i` up to the one matching `end` (and that line's index); a line of
    the `stray` markers first, or the end of the reply, raises EditFormatError."""
    got: list[str] = []
    while True:
        if i >= len(lines):
            raise EditFormatError(f"{where}: the reply ends before {marker}")
        if end.match(lines[i]):
            return got, i
        if any(m.match(lines[i]) for m in stray):
            raise EditFormatError(f"{where}, line {i + 1}: expected {marker} after {what}, "
                                  f"got {lines[i].strip()!r}")
        got.append(lines[i])
        i += 1


def parse_blocks(text: str) -> list[EditBlock]:
    """The search/replace blocks of a reply, in order. Prose and code fences around the
    blocks are allowed; anything malformed inside or between them raises EditFormatError."""
    lines = split_lines(text)
    blocks: list[EditBlock] = []
    i = 0
    last_end = -1  # the line of the previous block's REPLACE marker
    while i < len(lines):
        line = lines[i]
        if _DIVIDER.match(line) or _REPLACE.match(line):
            raise EditFormatError(f"line {i + 1}: {line.strip()!r} outside a block (no <<<<<<< SEARCH before it)")
        if not _SEARCH.match(line):
            i += 1
            continue
        n = len(blocks) + 1
        # The path: the nearest line above that is not blank and not a code fence.
        j = i - 1
        while j > last_end and (not lines[j].strip() or _FENCE.match(lines[j])):
            j -= 1
        if j > last_end:
            path = _clean_path(lines[j])
            if not path or any(c.isspace() for c in path):
                raise EditFormatError(f"block {n} (line {i + 1}): the line before <<<<<<< SEARCH must be the "
                                      f"file's path, got {lines[j].strip()[:80]!r}")
        elif blocks:
            path = blocks[-1].path  # consecutive blocks on the same file
        else:
            raise EditFormatError(f"block {n} (line {i + 1}): no file path before <<<<<<< SEARCH")
        search, i = _until(lines, i + 1, _DIVIDER, (_SEARCH, _REPLACE), f"block {n} ({path})",
                           "=======", "the SEARCH lines")
        replace, i = _until(lines, i + 1, _REPLACE, (_SEARCH, _DIVIDER), f"block {n} ({path})",
                            ">>>>>>> REPLACE", "the replacement lines")
        blocks.append(EditBlock(path, _join(search), _join(replace)))
        last_end = i
        i += 1
    if not blocks:
        raise EditFormatError("the reply has no edit blocks (path, <<<<<<< SEARCH, =======, >>>>>>> REPLACE)")
    return blocks


def _join(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def parse_json_edits(text: str) -> list[EditBlock]:
    """Edits in the JSON form of EDIT_SCHEMA (what guided decoding produces)."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*\n(.*)\n```", body, re.S)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise EditFormatError(f"the reply is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"edits"} or not isinstance(data["edits"], list):
        raise EditFormatError('the reply must be a JSON object {"edits": [...]} and nothing else')
    if not data["edits"]:
        raise EditFormatError("the reply has no edits")
    out = []
    for n, e in enumerate(data["edits"], 1):
        if not isinstance(e, dict) or set(e) != {"path", "search", "replace"}:
            raise EditFormatError(f"edit {n} must have exactly the fields path, search and replace")
        if not all(isinstance(e[k], str) for k in ("path", "search", "replace")) or not e["path"].strip():
            raise EditFormatError(f"edit {n}: path, search and replace must be strings, path non-empty")
        out.append(EditBlock(e["path"].strip(), e["search"], e["replace"]))
    return out


def parse_edits(text: str) -> list[EditBlock]:
    """Either form: JSON when the reply is a JSON object, else search/replace blocks."""
    body = text.strip()
    if body.startswith("{") or re.match(r"```(?:json)?\s*\n\s*\{", body):
        return parse_json_edits(body)
    return parse_blocks(text)


# --- paths -------------------------------------------------------------------------------


def resolve_path(root: Path, path: str) -> tuple[str, Path]:
    """(normalised relative path, absolute path) of `path` inside `root`; EditPathError for
    absolute paths, `..`, `.git/`, symbolic links, or anything resolving outside the root."""
    if not path or "\x00" in path:
        raise EditPathError(f"invalid path {path!r}")
    if path.startswith(("/", "\\")) or PureWindowsPath(path).drive:
        raise EditPathError(f"{path}: absolute paths are not allowed; give a path inside the repository")
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if ".." in parts:
        raise EditPathError(f"{path}: '..' is not allowed in an edit's path")
    if not parts or parts[0] == ".git" or ".git" in parts:
        raise EditPathError(f"{path}: edits inside .git are not allowed")
    rel = "/".join(p for p in parts if p != ".")
    root_real = Path(root).resolve()
    target = root_real / rel
    if target.is_symlink():
        raise EditPathError(f"{rel} is a symbolic link; edit the file it points to")
    try:
        target.resolve().relative_to(root_real)
    except ValueError:
        raise EditPathError(f"{rel} leads outside the repository root (through a symbolic link)") from None
    return rel, target


# --- results -----------------------------------------------------------------------------


@dataclass
class FileChange:
    path: str
    old_text: str | None  # None for a new file
    new_text: str
    diff: str
    base_sha256: str  # of the content the change was made against ("" for a new file)
    changed_lines: list[tuple[int, int]]  # ranges of the old file's lines that change (1-based)

    @property
    def created(self) -> bool:
        return self.old_text is None


@dataclass
class SyntaxCheck:
    path: str
    language: str  # "" when repoqa does not parse this kind of file
    checked: bool
    errors_before: int
    errors_after: int
    error_lines: list[int]  # lines of the syntax errors in the new text
    note: str

    @property
    def ok(self) -> bool:
        return not self.checked or self.errors_after <= self.errors_before


@dataclass
class Finding:
    """A bandit finding in the new text of a Python file."""

    path: str
    test_id: str
    test_name: str
    severity: str
    confidence: str
    line: int
    message: str
    introduced: bool  # not in the file before the change
    cwe: str = ""


@dataclass
class Proposal:
    changes: list[FileChange]
    checks: list[SyntaxCheck]
    findings: list[Finding]
    may_need_updating: list[str] = field(default_factory=list)
    blocks: list[EditBlock] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reply: str = ""  # the model's reply, when the proposal came from one
    model: str = ""
    snapshot: str = ""
    masked_secrets: int = 0

    @property
    def diff(self) -> str:
        return "".join(c.diff for c in self.changes)

    @property
    def ok(self) -> bool:
        """Every touched file parses at least as well as before."""
        return all(c.ok for c in self.checks)

    def expected(self) -> dict[str, str]:
        """sha256 of each touched file as the proposal saw it ("" for new files)."""
        return {c.path: c.base_sha256 for c in self.changes}

    def to_json(self) -> dict[str, object]:
        return {
            "diff": self.diff, "ok": self.ok,
            "files": [{"path": c.path, "created": c.created, "base_sha256": c.base_sha256,
                       "changed_lines": [list(r) for r in c.changed_lines]} for c in self.changes],
            "checks": [{**dataclasses.asdict(c), "ok": c.ok} for c in self.checks],
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "may_need_updating": self.may_need_updating, "notes": self.notes,
            "model": self.model, "snapshot": self.snapshot, "masked_secrets": self.masked_secrets,
        }


# --- applying blocks in memory -----------------------------------------------------------


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_text(path: Path, rel: str) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise EditError(f"{rel} is a binary file; it cannot be edited as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise EditError(f"{rel} is not UTF-8 text; it cannot be edited") from None


def _lines(text: str) -> list[str]:
    out = text.split("\n")
    if out and out[-1] == "":
        out.pop()
    return out


def apply_block(text: str, block: EditBlock) -> str:
    """`text` with `block` applied: its SEARCH must match exactly one place, exactly or else
    once when trailing whitespace is ignored on every line. Texts use \\n line ends."""
    search, replace = block.search, block.replace
    if "[MASKED:" in search:
        raise EditMatchError(f"{block.path}: the block's SEARCH holds a masked credential; edit that line by hand")
    count = text.count(search)
    if count == 1:
        return text.replace(search, replace, 1)
    if count > 1:
        raise EditMatchError(f"{block.path}: SEARCH matches {count} places; include more lines to make it "
                             f"unique. The block begins:\n{_first_lines(search)}")
    lines, wanted = _lines(text), _lines(search)
    norm = [line.rstrip() for line in lines]
    key = [line.rstrip() for line in wanted]
    k = len(key)
    hits = [i for i in range(len(lines) - k + 1) if norm[i:i + k] == key] if k else []
    if len(hits) == 1:
        i = hits[0]
        new = lines[:i] + _lines(replace) + lines[i + k:]
        return "\n".join(new) + ("\n" if text.endswith("\n") or not new else "")
    if len(hits) > 1:
        raise EditMatchError(f"{block.path}: SEARCH matches {len(hits)} places (ignoring trailing whitespace); "
                             f"include more lines to make it unique. The block begins:\n{_first_lines(search)}")
    raise EditMatchError(f"{block.path}: SEARCH is not in the file (not even ignoring trailing whitespace). "
                         f"The block begins:\n{_first_lines(search)}")


def _with_newlines(text: str) -> list[str]:
    """`text`'s lines, split at "\n" alone as split_lines splits them but with any "\r" kept
    (the diff is of the bytes), each with its "\n" but a last one without."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def unified_diff(path: str, old: str | None, new: str) -> str:
    """A git-style unified diff (a/ and b/ prefixes) that `git apply` accepts."""
    a = _with_newlines(old) if old is not None else []
    b = _with_newlines(new)
    body = []
    for line in difflib.unified_diff(a, b, fromfile="/dev/null" if old is None else f"a/{path}",
                                     tofile=f"b/{path}"):
        body.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    if not body:
        return ""
    head = f"diff --git a/{path} b/{path}\n" + ("new file mode 100644\n" if old is None else "")
    return head + "".join(body)


def changed_ranges(old: str, new: str) -> list[tuple[int, int]]:
    """Line ranges (1-based, inclusive) of `old` that the change replaces or deletes; an
    insertion is reported as the line before it (line 1 at the top)."""
    a, b = split_lines(old), split_lines(new)
    out: list[tuple[int, int]] = []
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        r = (i1 + 1, i2) if i2 > i1 else (max(1, i1), max(1, i1))
        if out and r[0] <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], r[1]))
        else:
            out.append(r)
    return out


# --- checks ------------------------------------------------------------------------------


def _syntax_errors(tree) -> list[int]:
    """Lines of ERROR and MISSING nodes, not descending into error-free subtrees."""
    from indexer.parse import error_nodes

    return sorted(n.start_point[0] + 1 for n in error_nodes(tree.root_node))


_parsers: dict[str, object] = {}
_parsers_lock = threading.Lock()


def _parse(language: str, text: str):
    import tree_sitter

    from indexer.languages import grammar

    with _parsers_lock:  # a Parser is not safe to share between threads
        parser = _parsers.get(language)
        if parser is None:
            parser = _parsers[language] = tree_sitter.Parser(grammar(language))
        return parser.parse(text.encode("utf-8"))


def check_syntax(path: str, old: str | None, new: str) -> SyntaxCheck:
    """Whether the new text has no more tree-sitter ERROR/MISSING nodes than the old one."""
    from indexer.languages import LANGUAGES, header_language, language_for

    language = language_for(path, tuple(LANGUAGES), text_files=False)
    # a header is C++ if either side is: an edit may bring the first class into a C-looking one
    if any(header_language(path, language, t.encode("utf-8"), tuple(LANGUAGES)) == "cpp"
           for t in (old, new) if t is not None):
        language = "cpp"
    if language not in LANGUAGES:
        return SyntaxCheck(path, "", False, 0, 0, [], "not checked: repoqa does not parse this kind of file")
    before = _syntax_errors(_parse(language, old)) if old is not None else []
    after = _syntax_errors(_parse(language, new))
    if len(after) <= len(before):
        note = "parses" if not after else f"parses with the {len(before)} syntax error(s) it had before"
    else:
        shown = ", ".join(str(n) for n in after[:8])
        note = f"the change introduces syntax errors: {len(after)} after, {len(before)} before (lines {shown})"
    return SyntaxCheck(path, language, True, len(before), len(after), after, note)


def _bandit_issues(name: str, text: str) -> list:
    with tempfile.TemporaryDirectory(prefix="repoqa-bandit-") as tmp, warnings.catch_warnings():
        # bandit's plugin loading (at import) passes stevedore an argument it has deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        from bandit.core import config as bandit_config
        from bandit.core import manager as bandit_manager

        target = Path(tmp) / name
        target.write_text(text, encoding="utf-8")
        mgr = bandit_manager.BanditManager(bandit_config.BanditConfig(), "file", quiet=True)
        mgr.discover_files([str(target)], recursive=False)
        mgr.run_tests()
        return mgr.get_issue_list()


def bandit_findings(path: str, old: str | None, new: str) -> list[Finding]:
    """bandit's findings in the new text; `introduced` marks those the old text did not have
    (matched by test and line content, so moved lines do not count as new)."""
    name = PurePosixPath(path).name
    logging.getLogger("bandit").setLevel(logging.ERROR)
    issues = _bandit_issues(name, new)
    new_lines = split_lines(new)
    before: set[tuple[str, str]] = set()
    if old is not None and issues:
        old_lines = split_lines(old)
        for i in _bandit_issues(name, old):
            before.add((i.test_id, old_lines[i.lineno - 1].strip() if 0 < i.lineno <= len(old_lines) else ""))
    out = []
    for i in issues:
        text = new_lines[i.lineno - 1].strip() if 0 < i.lineno <= len(new_lines) else ""
        cwe = getattr(i, "cwe", None)
        out.append(Finding(path=path, test_id=i.test_id, test_name=i.test, severity=str(i.severity),
                           confidence=str(i.confidence), line=int(i.lineno), message=i.text,
                           introduced=(i.test_id, text) not in before,
                           cwe=f"CWE-{cwe.id}" if cwe is not None and getattr(cwe, "id", 0) else ""))
    return out


# --- proposing and applying --------------------------------------------------------------


def propose(root: Path | str, edits: str | Sequence[EditBlock], *, texts: Mapping[str, str] | None = None,
            dependents: Dependents | None = None, run_bandit: bool = True) -> Proposal:
    """Apply `edits` (a model's reply, or parsed blocks) in memory to the files under `root`
    and check the result. Nothing is written.

    `texts` gives a file's current content where the caller has it (what the bundle saw);
    other files are read from disk. `dependents(path, changed_line_ranges)` returns lines to
    show as "may need updating" (callers of the changed symbols, from the graph).
    """
    root = Path(root)
    blocks = parse_edits(edits) if isinstance(edits, str) else list(edits)
    if not blocks:
        raise EditFormatError("no edits to propose")
    originals: dict[str, str | None] = {}
    current: dict[str, str] = {}
    newline: dict[str, str] = {}
    order: list[str] = []
    for block in blocks:
        rel, target = resolve_path(root, block.path)
        block = dataclasses.replace(block, path=rel)
        if rel not in originals:
            if texts is not None and rel in texts:
                text: str | None = texts[rel]
            elif target.is_file():
                text = _read_text(target, rel)
            elif target.exists():
                raise EditError(f"{rel} is not a regular file")
            else:
                text = None
            originals[rel] = text
            newline[rel] = "\r\n" if text is not None and "\r\n" in text else "\n"
            if text is not None:
                current[rel] = text.replace("\r\n", "\n")
            order.append(rel)
        search = block.search.replace("\r\n", "\n")
        replace = block.replace.replace("\r\n", "\n")
        if not search.strip():
            if rel in current:
                raise EditMatchError(f"{rel}: SEARCH is empty but the file exists; an empty SEARCH only "
                                     "creates a new file")
            current[rel] = replace
            continue
        if rel not in current:
            raise EditMatchError(f"{rel}: no such file (to create it, leave SEARCH empty). The block "
                                 f"begins:\n{_first_lines(search)}")
        current[rel] = apply_block(current[rel], EditBlock(rel, search, replace))

    changes, checks, findings, notes = [], [], [], []
    bandit_missing = False
    for rel in order:
        old = originals[rel]
        old_lf = old.replace("\r\n", "\n") if old is not None else None
        new_lf = current[rel]
        if old_lf == new_lf:
            notes.append(f"{rel}: the edits leave it unchanged")
            continue
        new_text = new_lf.replace("\n", newline[rel]) if newline[rel] != "\n" else new_lf
        changes.append(FileChange(
            path=rel, old_text=old, new_text=new_text, diff=unified_diff(rel, old_lf, new_lf),
            base_sha256=sha256_text(old) if old is not None else "",
            changed_lines=changed_ranges(old_lf, new_lf) if old_lf is not None else []))
        check = check_syntax(rel, old_lf, new_lf)
        checks.append(check)
        if not check.checked:
            notes.append(f"{rel}: {check.note}")
        if run_bandit and check.language == "python" and not bandit_missing:
            try:
                findings.extend(bandit_findings(rel, old_lf, new_lf))
            except ImportError:
                bandit_missing = True
                notes.append("bandit is not installed: Python changes were not scanned")
    may: list[str] = []
    if dependents is not None:
        for change in changes:
            if change.created:
                continue
            for line in dependents(change.path, list(change.changed_lines)):
                if line not in may:
                    may.append(line)
    return Proposal(changes=changes, checks=checks, findings=findings, may_need_updating=may,
                    blocks=blocks, notes=notes)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once: a temporary file in the same folder, fsync,
    rename over the old one (keeping its permission bits), fsync of the folder."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".repoqa-tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_path(path.parent)


def apply(proposal: Proposal, root: Path | str, expected: Mapping[str, str] | None = None) -> list[str]:
    """Write the proposal's files under `root`; the paths written.

    Refuses with StaleFileError, writing nothing, if any file's content differs from what the
    proposal was made against, or from `expected` (path -> sha256 of the content the bundle
    saw) where given, or a file to create already exists. Each file is replaced atomically.
    """
    root = Path(root)
    plan: list[tuple[Path, FileChange]] = []
    for change in proposal.changes:
        rel, target = resolve_path(root, change.path)
        want = change.base_sha256
        if expected is not None and rel in expected and expected[rel] != want:
            raise StaleFileError(f"{rel}: the proposal was made against other content than the bundle saw; "
                                 "ask again")
        if change.created:
            if target.exists():
                raise StaleFileError(f"{rel} exists now but did not when the change was proposed; ask again")
        else:
            if not target.is_file():
                raise StaleFileError(f"{rel} no longer exists; ask again")
            found = sha256_file(target)
            if found != want:
                raise StaleFileError(f"{rel} changed since the change was proposed (sha256 {want[:12]} then, "
                                     f"{found[:12]} now); nothing was written, ask again")
        plan.append((target, change))
    written = []
    for target, change in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, change.new_text.encode("utf-8"))
        written.append(change.path)
    return written


# --- asking the model --------------------------------------------------------------------


def guided_extra() -> dict:
    """vLLM request fields that constrain the reply to EDIT_SCHEMA (vLLM >= 0.12 spelling)."""
    return {"structured_outputs": {"json": EDIT_SCHEMA}}


def edit_messages(bundle: Bundle, instruction: str, *, facts: Sequence[str] = (),
                  json_mode: bool = False) -> list[dict]:
    """The chat messages asking for `instruction` as edits to the code in `bundle` (secrets
    masked), from assistant/prompts/edit.md; JSON edits when `json_mode` (guided decoding)."""
    masked, _, _ = mask_bundle(bundle)
    return edit_prompt_messages(masked.render(), instruction, facts, json_mode=json_mode)


def suggest_edit(generator: Generator, bundle: Bundle, instruction: str, root: Path | str, *,
                 facts: Sequence[str] = (), texts: Mapping[str, str] | None = None,
                 dependents: Dependents | None = None, cancel: threading.Event | None = None,
                 on_text: Callable[[str], None] | None = None, max_tokens: int | None = None,
                 temperature: float = 0.0) -> Proposal:
    """Ask the model for `instruction` as edits and return the checked proposal (nothing is
    written). With the vLLM backend the reply is constrained to JSON by guided decoding."""
    masked, n_masked, _ = mask_bundle(bundle)
    json_mode = generator.backend == "vllm"
    messages = edit_prompt_messages(masked.render(), instruction, facts, json_mode=json_mode)
    max_tokens = max_tokens or int(getattr(generator, "max_tokens", 1024))
    parts = []
    for piece in generator.stream(messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel,
                                  extra=guided_extra() if json_mode else None):
        parts.append(piece)
        if on_text is not None:
            on_text(piece)
    reply = "".join(parts)
    if cancel is not None and cancel.is_set():
        raise EditError("the edit was cancelled before the model finished")
    proposal = propose(root, reply, texts=texts, dependents=dependents)
    proposal.reply, proposal.model, proposal.snapshot = reply, generator.model, bundle.snapshot
    proposal.masked_secrets = n_masked
    return proposal
