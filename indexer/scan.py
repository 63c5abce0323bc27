"""List the files of a repository that repoqa indexes, and why the others are left out."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from .errors import NotARepository
from .gitinfo import run_git
from .languages import language_for
from .options import IndexOptions
from .text import valid_text

log = logging.getLogger(__name__)

INDEX_DIR = ".repoqa"
IGNORE_FILE = ".repoqaignore"
# Files whose change can change which files count anywhere below them.
IGNORE_FILES = frozenset({".gitignore", IGNORE_FILE})

# Never descended into when walking a tree outside git (git's own rules already skip them).
_PRUNE_DIRS = frozenset({".git", ".hg", ".svn", INDEX_DIR, "__pycache__", "node_modules", ".tox",
                         ".mypy_cache", ".pytest_cache", ".ruff_cache", ".venv", "venv", ".eggs"})
# Directories of other projects' code copied in: by these names (extern/ as pybind11's and
# CMake's guides lay out a dependency, cextern/ astropy's C libraries, 3rdparty/ OpenCV's).
VENDOR_DIRS = frozenset({"vendor", "vendored", "third_party", "thirdparty", "third-party", "3rdparty",
                         "extern", "cextern", "node_modules", "bower_components", "_vendor", "site-packages"})
LOCK_FILES = frozenset({"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "cargo.lock", "poetry.lock",
                        "pipfile.lock", "go.sum", "composer.lock", "gemfile.lock", "uv.lock",
                        "npm-shrinkwrap.json", "bun.lockb", "pdm.lock"})
_GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".pb.go", ".pb.cc", ".pb.h", ".min.js",
                       ".min.css", ".bundle.js", "_generated.go", ".generated.ts", ".g.dart")


def stamp_ns(st: os.stat_result) -> int:
    """A file's change stamp: the later of its mtime and ctime. A write sets both; a copy or
    sync that keeps the old mtime (`cp -p`, `rsync -t`, `tar -x`) still sets the ctime, so a
    same-size replacement is not taken for the file it replaced (git checks ctime too). A
    chmod or rename moves only the ctime: the file is hashed again, not parsed."""
    return max(st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class ScanEntry:
    path: str  # relative to the root, forward slashes
    size: int
    mtime_ns: int  # the change stamp (stamp_ns), as the index stores it
    language: str  # "" when skipped
    skip_reason: str = ""
    skip_detail: str = ""


def checked_root(path: Path) -> Path:
    """`path` resolved, if it is a directory repoqa can index."""
    root = path.expanduser().resolve()
    if not root.exists():
        raise NotARepository(f"{path} does not exist")
    if not root.is_dir():
        raise NotARepository(f"{path} is not a directory")
    return root


def indexed_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` (resolved) that holds an index, if any."""
    return next((d for d in (start, *start.parents) if (d / INDEX_DIR / "index.db").is_file()), None)


def find_root(start: Path) -> Path:
    """The repository containing `start`: the nearest directory holding an index, else
    the git work tree, else `start` itself."""
    start = checked_root(start)
    found = indexed_root(start)
    if found is not None:
        return found
    top = run_git(start, "rev-parse", "--show-toplevel")
    return Path(top.strip()) if top else start


def scan(root: Path, options: IndexOptions) -> list[ScanEntry]:
    """Every candidate file under `root`: git's tracked and unignored files when `root` is
    in a git work tree, else a walk honouring nested .gitignore files; then .repoqaignore."""
    root = checked_root(root)
    listed = _git_files(root)
    paths = listed if listed is not None else _walk(root)
    extra = _root_ignore(root, options)
    out = []
    seen = set()
    for rel in paths:
        if rel in seen or _in_index_dir(rel) or not storable_path(rel):
            continue
        seen.add(rel)
        if extra is not None and extra.match_file(rel):
            continue
        out.append(_classify(root, rel, options))
    out.sort(key=lambda e: e.path)
    return out


def scan_paths(root: Path, paths: Iterable[str], options: IndexOptions) -> list[ScanEntry] | None:
    """What `scan` would say of these paths (relative; a directory stands for the files
    under it), without listing the whole tree: for a watcher reporting a few changes.
    None outside a git work tree, where only a whole walk knows the ignore rules."""
    root = checked_root(root)
    wanted = sorted({p.strip("/") for p in paths if p.strip("/")})
    if not wanted:
        return []
    inside = run_git(root, "rev-parse", "--is-inside-work-tree")
    if not inside or inside.strip() != "true":
        return None
    out = run_git(root, "-c", "core.quotePath=off", "ls-files", "-z", "--cached", "--others",
                  "--exclude-standard", "--", *(f":(literal){p}" for p in wanted))
    if out is None:
        return None
    extra = _root_ignore(root, options)
    entries = []
    for rel in sorted(set(p for p in out.split("\0") if p)):
        if _in_index_dir(rel) or not storable_path(rel) or (extra is not None and extra.match_file(rel)):
            continue
        entries.append(_classify(root, rel, options))
    return entries


def storable_path(rel: str) -> bool:
    """Whether a path can be stored: a name whose bytes are not UTF-8 cannot be (the index,
    the API and a model all take text), so its file is left out, with a warning, and the
    rest of the tree is indexed."""
    try:
        rel.encode("utf-8")
        return True
    except UnicodeEncodeError:
        log.warning("not indexed: %s: its name is not UTF-8", valid_text(rel))
        return False


def _in_index_dir(rel: str) -> bool:
    return rel == INDEX_DIR or rel.startswith(INDEX_DIR + "/")


def _git_files(root: Path) -> list[str] | None:
    inside = run_git(root, "rev-parse", "--is-inside-work-tree")
    if not inside or inside.strip() != "true":
        return None
    out = run_git(root, "-c", "core.quotePath=off", "ls-files", "-z", "--cached", "--others",
               "--exclude-standard")
    if out is None:
        return None
    return [p for p in out.split("\0") if p]


def _root_ignore(root: Path, options: IndexOptions) -> pathspec.GitIgnoreSpec | None:
    lines = list(options.exclude)
    f = root / IGNORE_FILE
    if f.is_file():
        lines += f.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def _walk(root: Path) -> Iterable[str]:
    """Files under root outside git: nested .gitignore (negations included), no symlinked
    directories followed (so no loops), tool and VCS directories pruned."""
    specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []  # (dir prefix, spec), root first

    def ignored(rel: str, is_dir: bool) -> bool:
        verdict = False
        probe = rel + "/" if is_dir else rel
        for prefix, spec in specs:
            if prefix and not probe.startswith(prefix):
                continue
            res = spec.check_file(probe[len(prefix):])
            if res.include is not None:
                verdict = res.include  # deeper files override shallower ones
        return verdict

    def visit(dir_rel: str):
        dir_path = root / dir_rel if dir_rel else root
        pushed = False
        gi = dir_path / ".gitignore"
        if gi.is_file():
            try:
                lines = gi.read_text(encoding="utf-8", errors="replace").splitlines()
                specs.append((dir_rel + "/" if dir_rel else "", pathspec.GitIgnoreSpec.from_lines(lines)))
                pushed = True
            except OSError as exc:
                log.warning("cannot read %s: %s", gi, exc)
        try:
            entries = sorted(os.scandir(dir_path), key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", dir_path, exc)
            entries = []
        for entry in entries:
            rel = f"{dir_rel}/{entry.name}" if dir_rel else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name in _PRUNE_DIRS or (Path(entry.path) / "pyvenv.cfg").exists():
                    continue
                if not ignored(rel, True):
                    yield from visit(rel)
            elif not ignored(rel, False):
                yield rel
        if pushed:
            specs.pop()

    yield from visit("")


def _classify(root: Path, rel: str, options: IndexOptions) -> ScanEntry:
    full = root / rel
    try:
        st = os.lstat(full)
    except OSError as exc:
        return ScanEntry(rel, 0, 0, "", "vanished" if isinstance(exc, FileNotFoundError) else "unreadable",
                         str(exc))
    size, mtime = st.st_size, stamp_ns(st)
    if stat.S_ISLNK(st.st_mode):
        return ScanEntry(rel, size, mtime, "", *_symlink_reason(root, full))
    if stat.S_ISDIR(st.st_mode):
        return ScanEntry(rel, 0, mtime, "", "submodule", "a directory listed by git")
    if not stat.S_ISREG(st.st_mode):
        return ScanEntry(rel, size, mtime, "", "not_regular", "")
    p = PurePosixPath(rel)
    name = p.name.lower()
    if options.skip_vendored and any(part.lower() in VENDOR_DIRS or part in _PRUNE_DIRS
                                     for part in p.parts[:-1]):
        return ScanEntry(rel, size, mtime, "", "vendored", "")
    if name in LOCK_FILES:
        return ScanEntry(rel, size, mtime, "", "lockfile", "")
    if name.endswith(_GENERATED_SUFFIXES):
        return ScanEntry(rel, size, mtime, "", "generated", "by its file name")
    lang = language_for(rel, options.languages, options.index_text_files)
    if not lang:
        return ScanEntry(rel, size, mtime, "", "unsupported", "")
    if size > options.max_file_bytes:
        return ScanEntry(rel, size, mtime, "", "too_large",
                         f"{size:,} bytes > max_file_bytes {options.max_file_bytes:,}")
    return ScanEntry(rel, size, mtime, lang)


def _symlink_reason(root: Path, full: Path) -> tuple[str, str]:
    try:
        target = full.resolve(strict=True)
    except RuntimeError:
        return "symlink", "symlink loop"
    except OSError as exc:
        return "symlink", f"broken symlink ({exc.strerror or exc})"
    if not target.is_relative_to(root):
        return "outside_root", f"points to {target}"
    return "symlink", f"points to {target.relative_to(root)}"
