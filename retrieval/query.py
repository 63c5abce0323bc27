"""What a question says about code: identifiers, paths, stack-trace frames, error messages.

A question is prose with code in it: names in backticks or with call parentheses, dotted
paths, snippets in fences, tracebacks pasted from a terminal. `analyze` pulls out the parts
that can be matched exactly against the index; the prose is left to BM25 and vectors.
Nothing here knows a language's library or a repository: the patterns are those of
identifiers and of the stack-trace formats of the languages the indexer parses.
"""

from __future__ import annotations

import bisect
import keyword
import re
from dataclasses import dataclass, field, replace

# Source file extensions a path mention may end with (those the indexer parses, and a few
# that travel with them in tracebacks and questions).
_EXT = (r"py|pyi|pyx|js|jsx|mjs|cjs|ts|tsx|go|rs|java|kt|c|h|cc|cpp|cxx|hpp|hh|hxx|"
        r"rb|php|cs|swift|scala|toml|cfg|ini|ya?ml|json|md|rst|txt")
_PATH = re.compile(rf"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:{_EXT}))(?![\w])")
# Frames: Python `File "x.py", line 12, in f`; JS `at f (x.js:12:3)`; Java `at a.b.C.f(C.java:12)`;
# Go/Rust/C `x.go:12`, `src/x.rs:12:5`.
_PY_FRAME = re.compile(r'File "([^"]+)", line (\d+)(?:, in ([\w<>.]+))?')
# IPython and Jupyter print a frame as `/path/x.py in f(args)` and mark its line with an
# arrow below (`--> 651     return ...`); since IPython 8 as `File /path/x.py:651, in f(args)`.
_IPY_FRAME = re.compile(r"^[ \t]*(?:File[ \t]+)?(\S+\.(?:py|pyx)):?(\d+)?,? in ([\w<>.]+)\(.*$", re.M)
_IPY_ARROW = re.compile(r"^[ \t]*-*>[ \t]*(\d+)", re.M)
_COLON_FRAME = re.compile(rf"(?<![\w.-])((?:[\w.-]+/)*[\w.-]+\.(?:{_EXT})):(\d+)(?::\d+)?")
_JAVA_FRAME = re.compile(r"at ([\w$.]+)\.([\w$<>]+)\(([\w]+\.(?:java|kt|scala)):(\d+)\)")
# Where one trace ends and the next begins: Python's header (also after "During handling of
# the above exception"), an error line (Python's ends a trace, Java's and JavaScript's begin
# one), Java's chained cause, a Go goroutine, a Rust panic.
_TRACE_START = re.compile(r"Traceback \(most recent call last\)|^[ \t]*Caused by:|^goroutine \d+ \[|panicked at|"
                          r"^[ \t]*(?:Uncaught[ \t]+)?(?:[\w.]+\.)?\w*(?:Error|Exception)\b", re.M)
# A `file:line` on a line of a trace: JavaScript's and Rust's `at`, Go's `+0x1d` after it, a Rust panic.
_AT = re.compile(r"[ \t]*(?:\d+:[ \t]*)?at\b")
_GO_OFFSET = re.compile(r"[ \t]+\+0x[0-9a-f]+")
_ERROR_LINE = re.compile(r"^[ \t]*(?:[\w.]+\.)?(\w*(?:Error|Exception|Warning|Exit|Interrupt))\b:?\s*(.*)$", re.M)
# A fence opens and closes at the start of a line (CommonMark); an unclosed one runs to the end.
_FENCE = re.compile(r"^[ \t]{0,3}```.*?(?:^[ \t]{0,3}```[^\n]*$|\Z)|^(?: {4}|\t)[^\n]+$", re.S | re.M)
# Keywords a call pattern catches (`if (x)`, `return (a, b)`, `import (`): never a definition.
_KEYWORDS = frozenset(keyword.kwlist) | {"function", "typeof", "instanceof", "switch", "catch", "sizeof",
                                          "synchronized"}
# `from pkg.mod import a, b as c` in a snippet (also after a `>>>` or `In [1]:` prompt)
_IMPORT = re.compile(r"^[ \t]*(?:>>>[ \t]*|In \[\d+\]:[ \t]*)?from[ \t]+[\w.]+[ \t]+import[ \t]+"
                     r"(?:\(([\w,\s]+)\)|([\w, \t]+))", re.M)
# Lines that open a question without being its title: a trace's header or frame, a prompt.
_NOT_TITLE = re.compile(r"^(?:Traceback \(most recent call last\)|File \"|>>>|\.\.\.|In \[\d+\]:|Out\[\d+\]:|\$ )")
_TICKS = re.compile(r"`([^`\n]{1,200})`")
# A name after a phrase (a Sphinx role and a leading `~.` or `.` aside): in backticks, or a
# call, a dotted or a code-like name (_named_after decides which read as code).
_NAMED = r"(?::\w+(?::\w+)?:)?(?:`~?\.?([A-Za-z_][\w.]*)(?:\(\))?`|([A-Za-z_][\w.]*\w)(\()?)"
# "Called by :meth:`.AppContext.pop`", "used from `send_file()`", "invoked by run_hooks()": a
# description of code by its caller, the way docstrings and questions often put it. The name
# after it is not what is asked about but what calls it.
_CALLED_BY = re.compile(rf"\b(?:called|used|invoked)\s+(?:only\s+)?(?:by|from)\s+(?:the\s+)?{_NAMED}", re.I)
# "Like :meth:`errorhandler`, but for every request", "works like `record` but ...", "the same
# as `Flask.after_request`, except ...": a description of code by what it resembles. The name
# is a point of comparison, not what is asked about ("like" only where it opens a sentence or
# follows works/behaves/acts: elsewhere it is as often "such as").
_LIKE = re.compile(rf"(?:(?:^|[.!?:;]\s+)like|\b(?:works|behaves|acts)\s+like|\bsame\s+as|\bsimilar\s+to|"
                   rf"\bequivalent\s+(?:to|of))\s+(?:the\s+)?{_NAMED}", re.I | re.M)
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w])")
_CALL = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\s*\(")
_WORD = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?![\w])")
_QUOTED = re.compile(r"""(?<![\w])(['"])([^'"\n]{6,120})\1""")
# A Markdown block quote: where an issue pastes the message it got (or a line of the docs it
# read) as prose rather than as code. Not a `>>>` prompt, nor a pytest failure's `>   code` line.
_BLOCKQUOTE = re.compile(r"^[ \t]{0,3}>(?!>)[ \t]?(\S.*?)[ \t]*$", re.M)
# A hyphenated name: a command-line option (`--collect-only`), a setting or a rule's id
# (`ignore-paths`, `undefined-loop-variable`). Code holds it as a string, where the question's
# words are split apart, so it is looked for as a phrase: quoted or in backticks, or anywhere
# when it starts with two dashes. Words joined by one hyphen in prose are English (built-in).
_HYPHENATED = r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+"
_OPTION = re.compile(rf"(?<![\w-])--{_HYPHENATED}(?![\w-])")
_QUOTED_NAME = re.compile(rf"""(?<![\w])([`'"])((?:--?)?{_HYPHENATED})(?:=[^`'"\s]*)?\1""")
# A title's scope: the part of the project a commit's subject (or an issue's title) says it is
# about, by the conventions of many projects' histories: `printer: ...`, `ignore/types: ...`
# (Go's and the Linux kernel's `pkg/path: ...`), `fix(form): ...` (Conventional Commits).
_SCOPED = r"[\w./-]+(?:\s*,\s*[\w./-]+)*"
_SCOPE = re.compile(rf"^\s*(?:[A-Za-z]\w*\(({_SCOPED})\)|({_SCOPED}))!?:\s")
# The heads of a pasted message or log line, not a part of the project.
_NOT_SCOPE = frozenset({"error", "warning", "exception", "fatal", "panic", "note"})


# The start-up banners of the interactive interpreters people paste sessions from (Python,
# IPython, Node): the same lines in every such question, whatever it is about, and made of
# words rare in code (copyright, credits, Anaconda, quickref), so BM25 would pick them first
# and match the few files that print a banner (an interactive console, a launcher script).
_BANNER = re.compile(
    r"^[ \t]*(?:"
    r"Python \d+\.\d+[\w.+]*[ \t]+[|(].*"  # Python 3.6.4 |Anaconda custom (64-bit)| (default, ...)
    r"|\[(?:GCC|Clang|MSC|PyPy)[^\]\n]*\](?: on \w+)?"  # [GCC 8.4.0] on linux
    r"|Type .{1,80}? for more information\.?"  # Type "help", "copyright", ... / Type ".help" ...
    r"|IPython \d+[\w.]* -- An enhanced Interactive Python\..*"
    r"|(?:\?|%quickref|help|object\?)[ \t]+-> .*"  # IPython 5's help lines
    r"|Welcome to Node\.js v[\d.]+\.?"
    r")[ \t]*\r?$", re.M)


def without_banners(text: str) -> str:
    """The question without interpreter start-up banners (the session itself stays); the
    question as it is when it holds nothing else."""
    out = _BANNER.sub("", text)
    return out if out.strip() else text


def _first_line(prose: str) -> str:
    return next((ln.strip() for ln in prose.splitlines() if ln.strip()), "")


def _title(text: str, prose: str) -> str:
    """The question's title: its first line of prose when more follows (an issue's title
    over its body, a commit's subject over its message); "" for a question of one line."""
    first = _first_line(prose)
    if not first or len(text.strip()) <= len(first) or _NOT_TITLE.match(first):
        return ""
    return first


def _scopes(prose: str) -> list[str]:
    """The scopes its first line opens with (`printer`, `ignore/types`; `form` of `fix(form):`)."""
    m = _SCOPE.match(_first_line(prose))
    if not m:
        return []
    found = (s.strip().strip("./").lower() for s in (m.group(1) or m.group(2)).split(","))
    return [s for s in dict.fromkeys(found) if s and s not in _NOT_SCOPE]


def scope_matches(scope: str, path: str) -> bool:
    """Whether `path` is in the part of the project `scope` names: its parts (`ignore/types`)
    are, in order, among the path's directories and its file (by its name, its stem, or a
    word of its stem: `form` is form_mapping.go's), case aside."""
    want = [w for w in scope.split("/") if w]
    if not want:
        return False
    parts = path.lower().split("/")
    name = parts[-1]
    stem = name.rsplit(".", 1)[0]
    i = 0
    for part in parts[:-1]:
        if i < len(want) and part == want[i]:
            i += 1
    if i == len(want):
        return True
    return i == len(want) - 1 and want[i] in (name, stem, *re.split(r"[_-]", stem))


def code_like(word: str) -> bool:
    """A word that reads as an identifier rather than prose: snake_case, camelCase,
    CamelCase with an inner capital, dunder, or with digits inside."""
    if len(word) < 3 or not word.isascii():
        return False
    core = word.strip("_")
    if not core:
        return False
    if "_" in core or word.startswith("__"):
        return True
    if any(c.isupper() for c in core[1:]) and any(c.islower() for c in core):
        return True  # camelCase, CamelCase with an inner capital
    return any(c.isdigit() for c in core[1:]) and core[0].isalpha() and any(c.isalpha() for c in core[1:])


@dataclass(frozen=True, slots=True)
class Mention:
    """A name the question uses: `name` is the last part, `qualifier` what preceded it."""

    name: str
    qualifier: str  # "Matrix" of `Matrix.col_insert`, "" for a bare name
    weight: float  # how sure it is code: backticks/calls/frames 1.0, code-like prose 0.7, snippets 0.4


@dataclass(frozen=True, slots=True)
class Frame:
    path: str  # as the trace wrote it (absolute, site-packages, ...): matched by suffix
    line: int
    function: str
    trace: int = 0  # which trace of the question it is in, in the order they appear; -1: none
    recency: int = 0  # 0 for its trace's most recent call (where the error was raised), 1 the caller...


@dataclass
class QueryInfo:
    text: str
    mentions: list[Mention] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # file paths and dotted module names
    frames: list[Frame] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # error messages and quoted strings
    names: list[str] = field(default_factory=list)  # hyphenated names: options, settings, rule ids
    prose: str = ""  # the question without its code (fenced blocks, indented lines)
    title: str = ""  # its first line of prose when more follows; "" for a question of one line
    scopes: list[str] = field(default_factory=list)  # what its first line says it is about (_SCOPE)
    callers: list[str] = field(default_factory=list)  # names it says call what it asks about (_CALLED_BY)
    likenesses: list[str] = field(default_factory=list)  # names it says what it asks about resembles (_LIKE)


def _in_traces(text: str, found: list[tuple[int, bool | None, Frame]]) -> list[Frame]:
    """The frames, in the order found, each told its trace and how recent a call it is there.
    Python and IPython print the most recent call last; Java, JavaScript, Go and Rust first.
    A `file:line` on a line that is not a frame's (`last` None) is in no trace: -1."""
    starts = [m.start() for m in _TRACE_START.finditer(text)]
    groups: dict[tuple[int, bool], list[int]] = {}
    out = [f if last is not None else replace(f, trace=-1) for _, last, f in found]
    for i, (pos, last, _) in enumerate(found):
        if last is not None:
            groups.setdefault((bisect.bisect_right(starts, pos), last), []).append(i)
    for (trace, last), members in groups.items():
        members.sort(key=lambda i: found[i][0])
        for n, i in enumerate(reversed(members) if last else members):
            out[i] = replace(out[i], trace=trace, recency=n)
    return out


def _named_after(pattern: re.Pattern[str], text: str) -> list[str]:
    """The names that `pattern`'s _NAMED part finds, as written (`Flask.url_for`), when they
    read as code: in backticks, or a call, a dotted or a code-like name."""
    out: list[str] = []
    for m in pattern.finditer(text):
        name = (m.group(1) or m.group(2) or "").strip(".")
        if name and (m.group(1) or m.group(3) or "." in name or code_like(name)) and name not in out:
            out.append(name)
    return out


def names_one_of(mention: Mention, names: list[str]) -> bool:
    """Whether `mention` is one of `names` (dotted, as _named_after gives them): the same
    last part, and the same qualifier or none (a bare `url_for` is not `Flask.url_for`)."""
    for n in names:
        qual, _, last = n.rpartition(".")
        if last == mention.name and (not mention.qualifier or
                                     (qual and mention.qualifier.rsplit(".", 1)[-1] == qual.rsplit(".", 1)[-1])):
            return True
    return False


def analyze(text: str) -> QueryInfo:
    info = QueryInfo(text=text)
    mentions: dict[tuple[str, str], float] = {}

    def mention(token: str, weight: float, code: bool = False) -> None:
        """`code`: the syntax around it says it is code (a call, an import), whatever it looks like."""
        token = token.strip(".")
        if not token:
            return
        parts = [p for p in token.split(".") if p]
        if not parts:
            return
        name = parts[-1]
        if len(name) < 2 or (len(parts) == 1 and name in _KEYWORDS):
            return
        if not code_like(name) and not code and weight < 1.0 and len(parts) == 1:
            return
        qual = ".".join(parts[:-1])
        key = (name, qual)
        mentions[key] = max(mentions.get(key, 0.0), weight)
        if qual:  # `a.b.c` also names `c` alone, less surely
            mentions[(name, "")] = max(mentions.get((name, ""), 0.0), weight * 0.8)

    found: list[tuple[int, bool | None, Frame]] = []  # (where in the text, most recent call last?, frame)
    for m in _PY_FRAME.finditer(text):
        found.append((m.start(), True, Frame(m.group(1), int(m.group(2)), m.group(3) or "")))
        if m.group(3) and not m.group(3).startswith("<"):
            mention(m.group(3), 1.0)
    ipy = list(_IPY_FRAME.finditer(text))
    for m, nxt in zip(ipy, ipy[1:] + [None]):
        line = m.group(2)
        if line is None:  # the arrowed line of this frame, before the next frame starts
            arrow = _IPY_ARROW.search(text, m.end(), nxt.start() if nxt else len(text))
            line = arrow.group(1) if arrow else "0"
        found.append((m.start(), True, Frame(m.group(1), int(line), m.group(3))))
        if not m.group(3).startswith("<"):
            mention(m.group(3), 1.0)
    for m in _JAVA_FRAME.finditer(text):
        found.append((m.start(), False, Frame(m.group(3), int(m.group(4)), m.group(2))))
        mention(f"{m.group(1).rsplit('.', 1)[-1]}.{m.group(2)}", 1.0)
    seen_frames = [(f.path, f.line) for _, _, f in found]
    for m in _COLON_FRAME.finditer(text):  # `x.go:12`, unless a frame above has it already
        if not any(line == int(m.group(2)) and path.endswith(m.group(1)) for path, line in seen_frames):
            line_start = text.rfind("\n", 0, m.start()) + 1
            in_trace = (_AT.match(text, line_start, m.start()) is not None or _GO_OFFSET.match(text, m.end())
                        is not None or "panicked at" in text[line_start:m.start()])
            found.append((m.start(), False if in_trace else None, Frame(m.group(1), int(m.group(2)), "")))
    info.frames = _in_traces(text, found)
    for m in _ERROR_LINE.finditer(text):
        msg = m.group(2).strip()
        if 8 <= len(msg) <= 200:
            info.messages.append(msg)
    for m in _QUOTED.finditer(text):
        s = m.group(2).strip()
        if " " in s and len(s.split()) >= 2:
            info.messages.append(s)
    for m in _BLOCKQUOTE.finditer(text):
        s = m.group(1).strip()
        if len(s.split()) >= 4 and s not in info.messages:
            info.messages.append(s)
    names = [m.group(2) for m in _QUOTED_NAME.finditer(text)] + _OPTION.findall(text)
    unique: dict[str, str] = {}  # the full-text search ignores case: Content-Type is content-type
    for n in names:
        unique.setdefault(n.lstrip("-").lower(), n.lstrip("-"))
    info.names = list(unique.values())

    paths: list[str] = []
    for m in _PATH.finditer(text):
        p = m.group(1)
        if p not in paths and not p.startswith("."):
            paths.append(p)
    fences = list(_FENCE.finditer(text))
    code_spans = [m.group(0) for m in fences]
    for span in _TICKS.findall(text):
        for tok in _DOTTED.findall(span):
            mention(tok, 1.0)
            if tok.count(".") >= 2 and tok not in paths:
                paths.append(tok)  # a dotted module path: pkg.sub.module
        for tok in _CALL.findall(span):
            mention(tok, 1.0)
        for tok in _WORD.findall(span):
            mention(tok, 1.0 if code_like(tok) or len(_WORD.findall(span)) == 1 else 0.7)
    ends = [0] + [e for m in fences for e in (m.start(), m.end())] + [len(text)]
    prose = " ".join(text[a:b] for a, b in zip(ends[::2], ends[1::2]))  # the text between the code
    info.prose, info.title = prose, _title(text, prose)
    info.scopes = _scopes(prose)
    for tok in _CALL.findall(prose):
        mention(tok, 1.0)
    for tok in _DOTTED.findall(prose):
        if not _PATH.fullmatch(tok):
            mention(tok, 0.9)
            if tok.count(".") >= 2 and tok not in paths:
                paths.append(tok)
    for tok in _WORD.findall(prose):
        if code_like(tok):
            mention(tok, 0.7)
    for span in code_spans:
        for tok in _CALL.findall(span):
            mention(tok, 0.5, code=True)
        for names in map("".join, _IMPORT.findall(span)):
            for item in names.split(","):  # `b as c` imports b
                if item.split():
                    mention(item.split()[0], 0.5, code=True)
        for tok in _DOTTED.findall(span):
            mention(tok, 0.4)
        for tok in _WORD.findall(span):
            if code_like(tok):
                mention(tok, 0.4)
    info.paths = paths
    info.callers, info.likenesses = _named_after(_CALLED_BY, text), _named_after(_LIKE, text)
    info.mentions = [Mention(n, q, w) for (n, q), w in sorted(mentions.items(), key=lambda kv: -kv[1])]
    return info
