"""Commit tasks from any repository's history, to check retrieval where it was never tuned.

    python -m benchmarks.mine_commits --repo DIR --name OWNER/NAME [--since 2021-01-01]
        [--count 60] [--language L ...] [--out FILE]

The development tasks (../shared/eval/commits) come from three repositories; the team's
held-out tasks from others. This makes tasks of the same kind from a clone of any repository
in the languages the indexer parses, so a change can be checked on code it was not chosen on:
`python -m benchmarks.localization --data FILE --repos DIR_OF_CLONES`.

A task is a first-parent commit whose subject describes a change (at least four words, not a
release, merge, dependency bump, typo fix or formatting run), which modifies one to three
existing source files (of the `--language`s, default every parsed one) outside tests, test
data, documentation, examples and vendored code, and adds or deletes none. Its question is
the subject without a trailing pull-request number; its gold is those files, and the
innermost definitions enclosing each changed line of the old file: for Python, by Python's
own `ast` (independent of the indexer; `gold_functions_source` "ast"); for the other
languages, by the indexer's tree-sitter definitions ("tree-sitter": functions, methods,
types, classes and the like, not variables, fields or namespaces). `leak`: the subject names
a gold file or the last part of a gold definition's name. Tasks are taken evenly over the
qualifying commits, oldest first.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.common import old_hunks
from graph.model import is_test_path
from indexer.languages import header_language, language_for
from indexer.options import IndexOptions
from indexer.parse import parse_source
from indexer.records import FileRecord, Symbol
from indexer.scan import VENDOR_DIRS
from retrieval.search import is_peripheral

_NOT_A_CHANGE = re.compile(
    r"^(?:bump|merge|release|revert|\[?pre-commit|update (?:pre-commit|changelog|.*requirements?)|"
    r"(?:fix(?:ed|es)? )?typos?\b|changelog|whats-?new|(?:apply|run) (?:black|ruff|isort|pre-commit)|"
    r"prepare (?:for )?release|version bump|v?\d+\.\d+|\[maven-release-plugin\])", re.I)
_PR_NUMBER = re.compile(r"\s*\(#\d+\)\s*$")
_OPTIONS = IndexOptions()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "color.ui=never", *args], capture_output=True,
                          encoding="utf-8", errors="replace", check=True).stdout


_NOT_SOURCE_TOP = frozenset({"asv_bench", "scripts", "script", "ci", "tools"})  # is_peripheral has doc/, benchmarks/
# Inputs of tests (Go's testdata/, fixtures) and copies of other projects' code, at any depth.
_NOT_SOURCE_DIRS = frozenset({"testdata", "test-data", "test_data", "fixtures", "__fixtures__", "dist"}) | VENDOR_DIRS
# The kinds of definition a changed line is attributed to (outside Python, whose `ast` gives
# functions and classes): not variables, constants, fields, or a namespace around a whole file.
GOLD_KINDS = frozenset({"function", "method", "constructor", "class", "struct", "interface", "enum", "trait",
                        "impl", "macro", "type"})


def is_source(path: str, languages: frozenset[str] | tuple[str, ...] = _OPTIONS.languages) -> bool:
    """A file of the project's own code in one of `languages`: not tests, test data,
    documentation, examples or vendored code."""
    parts = path.lower().split("/")
    return (language_for(path, languages, False) != "" and not is_test_path(path) and not is_peripheral(path)
            and parts[0] not in _NOT_SOURCE_TOP and not any(p in _NOT_SOURCE_DIRS for p in parts[:-1])
            and not parts[-1].endswith((".min.js", ".min.mjs")))


def definitions(source: str, path: str) -> list[tuple[str, int, int]]:
    """(qualified name, first line with decorators, last line) of every definition a changed
    line can belong to: Python's functions and classes by `ast`; in another language (by
    `path`'s suffix), the indexer's tree-sitter definitions of GOLD_KINDS."""
    data = source.encode("utf-8")
    language = header_language(path, language_for(path, _OPTIONS.languages, False), data, _OPTIONS.languages)
    if language != "python":
        record = FileRecord(path=path, language=language, size=len(source), mtime_ns=0, content_hash="")
        parsed = parse_source(path, language, data, _OPTIONS, record)
        return [(s.qualname, s.start_line, s.end_line) for s in (Symbol(*t) for t in parsed.symbols)
                if s.kind in GOLD_KINDS]
    out: list[tuple[str, int, int]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}" if prefix else child.name
                start = min([child.lineno] + [d.lineno for d in child.decorator_list])
                out.append((name, start, child.end_lineno or child.lineno))
                walk(child, name)

    walk(ast.parse(source), "")
    return out


def changed_old_lines(diff: str) -> list[tuple[int, bool]]:
    """(line, inserted) for the lines of the old file that a zero-context diff changes; an
    insertion gives the line it follows, marked, since it grows the definition around that
    line only if it is not that definition's last."""
    lines: list[tuple[int, bool]] = []
    for start, count in old_hunks(diff):
        lines.extend([(n, False) for n in range(start, start + count)] if count else [(start, True)])
    return lines


def task(repo: Path, name: str, commit: str, parent: str, date: str, subject: str,
         languages: frozenset[str] | tuple[str, ...] = _OPTIONS.languages) -> dict | None:
    """The task a commit makes, or None when it makes none."""
    fields = _git(repo, "diff-tree", "-r", "-z", "--no-renames", "--name-status", parent, commit).split("\0")
    changes = list(zip(fields[0::2], fields[1::2]))  # (status, path), paths as they are (-z)
    source = [(status, path) for status, path in changes if is_source(path, languages)]
    if not 1 <= len(source) <= 3 or any(status != "M" for status, _ in source):
        return None
    gold_functions: list[str] = []
    for _, path in source:
        try:
            defs = definitions(_git(repo, "show", f"{parent}:{path}"), path)
        except (SyntaxError, ValueError):
            return None
        diff = _git(repo, "diff-tree", "-p", "-U0", "--no-ext-diff", "--no-color", parent, commit, "--", path)
        for line, inserted in changed_old_lines(diff):
            around = [(q, s, e) for q, s, e in defs if s <= line <= e and not (inserted and line == e)]
            if around:
                gold = f"{path}::{max(around, key=lambda d: d[1])[0]}"  # the innermost: it starts last
                if gold not in gold_functions:
                    gold_functions.append(gold)
    if not gold_functions:
        return None
    question = _PR_NUMBER.sub("", subject).strip()
    words = set(re.findall(r"\w+", question.lower()))
    files = [path for _, path in source]
    leak = any(p.rsplit("/", 1)[-1].lower() in question.lower() or p.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
               in words for p in files) or any(g.rsplit(".", 1)[-1].split("::")[-1].lower() in words
                                               for g in gold_functions)
    by = {"ast" if language_for(p, _OPTIONS.languages, False) == "python" else "tree-sitter" for p in files}
    return {"repo": name, "commit": commit, "parent": parent, "date": date, "question": question, "body": "",
            "gold_files": files, "gold_functions": gold_functions, "gold_functions_source": "+".join(sorted(by)),
            "leak": leak}


def mine(repo: Path, name: str, since: str, count: int,
         languages: frozenset[str] | tuple[str, ...] = _OPTIONS.languages) -> list[dict]:
    try:
        log = _git(repo, "log", "--first-parent", f"--since={since}", "--format=%H%x00%P%x00%cs%x00%s")
    except subprocess.CalledProcessError as exc:  # not a repository, or one without commits
        raise SystemExit(f"no history to mine in {repo}: {exc.stderr.strip()}") from exc
    tasks = []
    for line in reversed(log.splitlines()):  # oldest first
        commit, parents, date, subject = line.split("\x00", 3)
        if not parents or _NOT_A_CHANGE.search(subject) or len(subject.split()) < 4:
            continue
        found = task(repo, name, commit, parents.split()[0], date, subject, languages)
        if found:
            tasks.append(found)
    if not count or count >= len(tasks):
        return tasks
    return [tasks[i * len(tasks) // count] for i in range(count)]  # spread evenly, oldest first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True, help="a clone with its history")
    ap.add_argument("--name", required=True, help="owner/name, as the tasks and --repos folders name it")
    ap.add_argument("--since", default="2021-01-01", help="commits since this date")
    ap.add_argument("--count", type=int, default=60, help="tasks to keep, spread over the history (0: all)")
    ap.add_argument("--language", action="append", choices=sorted(_OPTIONS.languages),
                    help="mine changes to files of this language (repeatable; default: every one parsed)")
    ap.add_argument("--out", type=Path, help="the tasks as JSON lines (default: standard output)")
    args = ap.parse_args()
    rows = mine(args.repo, args.name, args.since, args.count,
                tuple(args.language) if args.language else _OPTIONS.languages)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    print(f"{len(rows)} tasks ({sum(r['leak'] for r in rows)} leak) from {args.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
