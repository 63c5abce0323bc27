"""The record types shared by every package: files, symbols, references, chunks."""

from __future__ import annotations

from dataclasses import dataclass, field

# Lines are 1-based and inclusive; columns are 0-based UTF-8 byte offsets, as
# tree-sitter reports them (the service converts to UTF-16 for LSP clients).


@dataclass(frozen=True, slots=True)
class Symbol:
    """A definition: `qualname` is its name qualified by its enclosing definitions."""

    name: str
    qualname: str
    kind: str  # function, method, class, interface, struct, enum, type, impl, ...
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    signature: str
    doc: str
    parent: str  # qualname of the enclosing definition, "" at file level


@dataclass(frozen=True, slots=True)
class Reference:
    """A use of a name: a call, an import, a base class, a type annotation."""

    name: str
    kind: str  # call, import, inherit, type
    line: int
    col: int
    end_line: int
    end_col: int
    scope: str  # what the name was reached through: "self" in self.m(), "os.path"
    module: str  # an import's source ("./util", "a.b", "fmt"); "" otherwise
    alias: str  # the local name an import binds, when it differs from `name`
    enclosing: str  # qualname of the innermost definition containing the use


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrieval unit: a whole definition, a piece of a large one, or top-level code."""

    start_line: int
    end_line: int
    symbol: str  # qualname of the innermost definition enclosing the chunk, "" if none
    kind: str  # the kind of that definition, or "code"/"text" outside definitions
    symbols: tuple[str, ...]  # qualnames of the definitions that start inside the chunk
    text: str
    text_hash: str
    tokens: int  # estimated, see indexer.text.estimate_tokens


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the store keeps about one path, parsed or skipped."""

    path: str  # relative to the repository root, with forward slashes
    language: str  # "" when skipped
    size: int
    mtime_ns: int  # the change stamp: the later of mtime and ctime (scan.stamp_ns)
    content_hash: str  # "" when the file was skipped before it was read
    lines: int = 0
    skip_reason: str = ""  # "" for indexed files; otherwise a key of SKIP_REASONS
    skip_detail: str = ""
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """Everything the parser extracted from one file, as plain tuples: they cross from the
    parser processes to the writer, and tuples pickle several times faster than records.

    symbols: Symbol fields in order; references: Reference fields in order;
    chunks: Chunk fields in order with `symbols` space-joined, then the identifier parts
    (text.identifier_parts) of its symbols and of its body, for the full-text index.
    terms: the whole file's (word, count) pairs (text.term_counts), for file-level BM25.
    """

    record: FileRecord
    symbols: list[tuple]
    references: list[tuple]
    chunks: list[tuple]
    parse_errors: int  # ERROR/MISSING nodes tree-sitter recovered from
    terms: list[tuple[str, int]] = field(default_factory=list)


# Why a file was left out of the index. The keys appear in summaries and --json.
SKIP_REASONS: dict[str, str] = {
    "too_large": "larger than the size cap",
    "binary": "binary content (NUL bytes)",
    "minified": "minified or generated on one line",
    "generated": "marked as generated",
    "vendored": "vendored or third-party directory",
    "lockfile": "dependency lock file",
    "unsupported": "not a source or text file repoqa indexes",
    "symlink": "a symbolic link (its target is indexed where it lives)",
    "outside_root": "a symbolic link pointing outside the repository",
    "not_regular": "not a regular file (FIFO, socket, device)",
    "unreadable": "could not be read (permissions or I/O error)",
    "vanished": "deleted while indexing",
    "submodule": "a git submodule (index it as its own repository)",
}
