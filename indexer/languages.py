"""Which languages repoqa knows: file extensions, grammars, tag queries, node types."""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from .errors import IndexerError

QUERY_DIR = Path(__file__).parent / "queries"


@dataclass(frozen=True, kw_only=True)
class LanguageSpec:
    """What the parser needs to know about one language. Adding a language = a spec + a .scm."""

    name: str
    extensions: tuple[str, ...]
    grammar_module: str  # the PyPI grammar wheel's module
    grammar_function: str = "language"
    queries: tuple[str, ...]  # .scm files under indexer/queries, concatenated in order
    # Nodes that wrap a definition and belong to it (decorators, `export`, templates).
    wrappers: frozenset[str] = frozenset()
    # Nodes written before a definition that belong to it (Rust's #[derive(...)]).
    attributes: frozenset[str] = frozenset()
    # Imports are use trees to expand (`use a::{b, c as d}`), not single names.
    use_trees: bool = False
    # Macro arguments are unparsed token trees whose calls are read by a second parse (parse.py).
    macro_arguments: bool = False
    # Lines that are only a macro are blanked when the file does not parse without (parse.py).
    bare_macros: bool = False
    # Statement-list nodes a large definition may be split along.
    bodies: frozenset[str] = frozenset({"block", "statement_block", "compound_statement",
                                        "declaration_list", "class_body", "field_declaration_list",
                                        "body", "interface_body", "enum_body"})


LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            name="python", extensions=(".py", ".pyi", ".pyw"), grammar_module="tree_sitter_python",
            queries=("python.scm",), wrappers=frozenset({"decorated_definition"}),
        ),
        LanguageSpec(
            name="javascript", extensions=(".js", ".jsx", ".mjs", ".cjs"),
            grammar_module="tree_sitter_javascript", queries=("ecmascript.scm", "javascript.scm", "jsx.scm"),
            wrappers=frozenset({"export_statement"}),
        ),
        LanguageSpec(
            name="typescript", extensions=(".ts", ".mts", ".cts"), grammar_module="tree_sitter_typescript",
            grammar_function="language_typescript", queries=("ecmascript.scm", "typescript.scm"),
            wrappers=frozenset({"export_statement", "ambient_declaration"}),
        ),
        LanguageSpec(
            name="tsx", extensions=(".tsx",), grammar_module="tree_sitter_typescript",
            grammar_function="language_tsx", queries=("ecmascript.scm", "typescript.scm", "jsx.scm"),
            wrappers=frozenset({"export_statement", "ambient_declaration"}),
        ),
        LanguageSpec(name="go", extensions=(".go",), grammar_module="tree_sitter_go", queries=("go.scm",)),
        LanguageSpec(name="rust", extensions=(".rs",), grammar_module="tree_sitter_rust", queries=("rust.scm",),
                     attributes=frozenset({"attribute_item"}), use_trees=True, macro_arguments=True),
        LanguageSpec(name="java", extensions=(".java",), grammar_module="tree_sitter_java", queries=("java.scm",)),
        LanguageSpec(name="c", extensions=(".c", ".h"), grammar_module="tree_sitter_c", queries=("c.scm",),
                     bare_macros=True),
        LanguageSpec(
            name="cpp", extensions=(".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".inl"),
            grammar_module="tree_sitter_cpp", queries=("cpp.scm",),
            wrappers=frozenset({"template_declaration"}), bare_macros=True,
        ),
    )
}

# Documentation and configuration indexed as plain text (chunked by paragraphs).
TEXT_EXTENSIONS = frozenset({
    ".md", ".markdown", ".rst", ".txt", ".adoc", ".toml", ".yaml", ".yml", ".json", ".ini", ".cfg",
    ".conf", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat", ".sql", ".graphql", ".proto", ".html",
    ".htm", ".css", ".scss", ".less", ".xml", ".gradle", ".cmake", ".mk", ".tex", ".rb", ".php",
    ".cs", ".kt", ".kts", ".scala", ".swift", ".m", ".mm", ".lua", ".pl", ".pm", ".r", ".jl",
    ".ex", ".exs", ".erl", ".hs", ".ml", ".mli", ".clj", ".dart", ".vue", ".svelte", ".tf", ".nix",
    ".j2", ".jinja", ".tmpl", ".tpl", ".scm", ".el", ".vim",
})
# Extensionless files are read and kept only when their first line is a shebang.
SHEBANG = "shebang"
_SHEBANG_LANGUAGES = {"python": "python", "node": "javascript", "deno": "typescript", "bun": "javascript"}
TEXT_FILENAMES = frozenset({
    "readme", "makefile", "dockerfile", "license", "copying", "authors", "changelog", "changes",
    "contributing", "cmakelists.txt", "justfile", "procfile", "gemfile", "rakefile", "vagrantfile",
    "go.mod", "build", "workspace", ".gitignore", ".editorconfig",
})

_BY_EXTENSION = {ext: spec.name for spec in LANGUAGES.values() for ext in spec.extensions}


def language_for(path: str, enabled: frozenset[str] | tuple[str, ...], text_files: bool) -> str:
    """The language of a path: a parsed language, "text", or "" when repoqa does not index it."""
    p = PurePosixPath(path)
    suffix = p.suffix.lower()
    lang = _BY_EXTENSION.get(suffix)
    if lang is not None and lang in enabled:
        return lang
    if not text_files:
        return ""
    name = p.name.lower()
    if suffix in TEXT_EXTENSIONS or name in TEXT_FILENAMES or p.stem.lower() in TEXT_FILENAMES:
        return "text"
    if not suffix:
        return SHEBANG
    return ""


# A `.h` header may be C or C++, and its suffix does not say which: fmt, Abseil, LevelDB and
# most C++ projects name their headers .h. Read with the C grammar, C++ loses its namespaces,
# classes and templates to syntax errors, so a header is C++ when a line of it opens with what
# C has not: a namespace, a template, an access label alone on its line, a class, a base
# class, `using namespace`, `enum class`, an include of an extensionless header (<vector>; C's
# all end in .h) or of a .hpp, or `extern "C++"`. Each is written so that prose in a comment
# ("class of lists.", "template <name> is") does not pass for it. A C header's `extern "C"`
# guard is no sign: C headers carry it for C++ readers.
_CPP_HEADER = re.compile(rb"""^[ \t]*(?:
      (?:inline[ \t]+)?namespace(?:[ \t]+[\w:]++)?[ \t]*(?:\{|=)          # namespace x {, namespace fs = ...
    | (?:inline[ \t]+)?namespace(?:[ \t]+[\w:]++)?[ \t]*\r?\n[ \t]*\{     # its brace on the next line
    | template[ \t]*<[ \t]*(?:>|typename\b|class\b|[\w:]++[ \t]+\w)       # template <typename T>, <>, <int N>
    | (?:public|private|protected)[ \t]*:[ \t]*(?://.*)?\r?$              # an access label, alone
    | using[ \t]+namespace\b
    | enum[ \t]+(?:class|struct)\b
    | (?:class|struct)[ \t]+\w++[ \t]*(?:final[ \t]*)?:[ \t]*(?:public|private|protected|virtual)\b
    | class[ \t]+(?:\w++[ \t]+)?\w++[ \t]*(?:final[ \t]*)?(?:\{|;|:|\r?$)  # class X {, class API X :, class X;
    | \#[ \t]*include[ \t]*<(?:[\w/]++|[\w/.+-]+\.(?:hpp|hh|hxx|h\+\+))>   # <vector>, <QString>, <boost/any.hpp>
    | extern[ \t]+"C\+\+"
)""", re.M | re.X)


def header_language(path: str, language: str, data: bytes, enabled: frozenset[str] | tuple[str, ...]) -> str:
    """The language of a file as its content shows it where its suffix cannot: a `.h` file
    read as C is C++ when it holds C++ (and C++ is enabled). Any other file keeps `language`."""
    if language == "c" and path.lower().endswith(".h") and "cpp" in enabled and _CPP_HEADER.search(data):
        return "cpp"
    return language


def language_of_script(first_line: bytes, enabled: frozenset[str] | tuple[str, ...]) -> str:
    """The language a `#!` line names (python, node, ...), "text" for other interpreters,
    "" when there is no shebang."""
    if not first_line.startswith(b"#!"):
        return ""
    words = first_line[2:].decode("utf-8", "replace").replace("/", " ").split()
    for word in reversed(words[:4]):
        for prefix, lang in _SHEBANG_LANGUAGES.items():
            if word.startswith(prefix) and lang in enabled:
                return lang
    return "text"


@cache
def grammar(name: str):  # -> tree_sitter.Language
    import tree_sitter

    spec = LANGUAGES[name]
    try:
        module = importlib.import_module(spec.grammar_module)
    except ImportError as exc:  # pragma: no cover - the grammars are dependencies
        raise IndexerError(f"the grammar for {name} is not installed ({spec.grammar_module})") from exc
    return tree_sitter.Language(getattr(module, spec.grammar_function)())


@cache
def query_source(name: str) -> str:
    """The language's tag queries, read once per process, as `compiled_query` compiles them
    once: every call the server answers checks its index's options against their digest,
    and reading 9 languages' files each time cost 0.59 ms a call."""
    return "\n".join((QUERY_DIR / f).read_text(encoding="utf-8") for f in LANGUAGES[name].queries)


@cache
def compiled_query(name: str):  # -> tree_sitter.Query, compiled once per process
    import tree_sitter

    try:
        return tree_sitter.Query(grammar(name), query_source(name))
    except tree_sitter.QueryError as exc:
        raise IndexerError(f"tag queries for {name} do not compile: {exc}") from exc


@cache
def queries_digest(languages: tuple[str, ...] | frozenset[str]) -> str:
    h = hashlib.sha256(b"lines split at newlines alone")  # what a chunk's line numbers mean
    for name in sorted(languages):
        if name in LANGUAGES:
            h.update(name.encode())
            h.update(query_source(name).encode())
            if LANGUAGES[name].macro_arguments:  # what an index holds depends on it too
                h.update(b"macro arguments")
            if LANGUAGES[name].bare_macros:
                h.update(b"bare macros, class macros")
            if name == "c" and "cpp" in languages:  # headers holding C++ are read as C++
                h.update(b"c++ headers")
    return h.hexdigest()[:16]
