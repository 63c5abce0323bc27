"""Edits: strict parsing, matching, path safety, checks (syntax, bandit), diffs, atomic apply."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from assistant.edits import (
    EDIT_SCHEMA,
    EditBlock,
    apply,
    edit_messages,
    guided_extra,
    parse_blocks,
    parse_edits,
    parse_json_edits,
    propose,
    sha256_text,
    write_atomic,
)
from assistant.errors import (
    EditError,
    EditFormatError,
    EditMatchError,
    EditPathError,
    StaleFileError,
)
from retrieval.bundle_types import Bundle, BundleUnit

APP = (
    "import json\n"
    "\n"
    "\n"
    "def load(path):\n"
    "    with open(path) as f:\n"
    "        return json.load(f)\n"
    "\n"
    "\n"
    "def save(path, data):\n"
    "    with open(path, 'w') as f:\n"
    "        json.dump(data, f)\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text(APP)
    (root / "pkg" / "notes.md").write_text("# Notes\n\nSome text.\n")
    (root / "pkg" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "pkg" / "run.sh", 0o755)
    return root


def block(path: str, search: str, replace: str) -> str:
    def lines(text: str) -> str:
        return text if not text or text.endswith("\n") else text + "\n"

    return f"{path}\n<<<<<<< SEARCH\n{lines(search)}=======\n{lines(replace)}>>>>>>> REPLACE\n"


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- parsing ---------------------------------------------------------------------------


def test_parse_blocks_with_prose_fences_and_several_files():
    reply = (
        "I will rename the helper.\n\n"
        "```python\n"
        "pkg/app.py\n"
        "<<<<<<< SEARCH\n"
        "def load(path):\n"
        "=======\n"
        "def load_json(path):\n"
        ">>>>>>> REPLACE\n"
        "```\n\n"
        "`pkg/other.py`\n"
        "```\n"
        "<<<<<<< SEARCH\n"
        "=======\n"
        "X = 1\n"
        ">>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\n"
        "X = 1\n"
        "=======\n"
        ">>>>>>> REPLACE\n"
        "```\nDone.\n"
    )
    assert parse_blocks(reply) == [
        EditBlock("pkg/app.py", "def load(path):\n", "def load_json(path):\n"),
        EditBlock("pkg/other.py", "", "X = 1\n"),
        EditBlock("pkg/other.py", "X = 1\n", ""),  # a block right after another: the same file
    ]


@pytest.mark.parametrize("reply,message", [
    ("no blocks here, just prose\n", "no edit blocks"),
    ("pkg/app.py\n<<<<<<< SEARCH\ndef load(path):\n>>>>>>> REPLACE\n", "expected ======="),
    ("pkg/app.py\n<<<<<<< SEARCH\ndef load(path):\n=======\ndef f():\n", "ends before >>>>>>> REPLACE"),
    ("pkg/app.py\n<<<<<<< SEARCH\ndef load(path):\n", "ends before ======="),
    ("=======\nx\n>>>>>>> REPLACE\n", "outside a block"),
    ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path"),
    ("Here is the change:\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "must be the file's path"),
    ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n=======\nz\n>>>>>>> REPLACE\n", "expected >>>>>>> REPLACE"),
])
def test_malformed_replies_raise_and_write_nothing(repo, reply, message):
    before = snapshot(repo)
    with pytest.raises(EditFormatError, match=message):
        propose(repo, reply)
    assert snapshot(repo) == before


def test_json_edits_and_schema():
    reply = json.dumps({"edits": [{"path": "pkg/app.py", "search": "def load(path):\n",
                                   "replace": "def load_json(path):\n"}]})
    expected = [EditBlock("pkg/app.py", "def load(path):\n", "def load_json(path):\n")]
    assert parse_json_edits(reply) == expected
    assert parse_edits(reply) == expected
    assert parse_edits("```json\n" + reply + "\n```") == expected
    assert guided_extra() == {"structured_outputs": {"json": EDIT_SCHEMA}}
    assert EDIT_SCHEMA["properties"]["edits"]["items"]["required"] == ["path", "search", "replace"]
    for bad, message in [
        ("{not json", "not valid JSON"),
        ('{"edits": []}', "no edits"),
        ('{"edits": [{"path": "a.py", "search": "x"}]}', "exactly the fields"),
        ('{"edits": [{"path": "", "search": "x", "replace": "y"}]}', "path non-empty"),
        ('{"changes": []}', "nothing else"),
    ]:
        with pytest.raises(EditFormatError, match=message):
            parse_json_edits(bad)


# --- matching ----------------------------------------------------------------------------


def test_ambiguous_search_names_the_file_and_block(repo):
    (repo / "pkg" / "twice.py").write_text("x = 1\ny = 2\nx = 1\n")
    before = snapshot(repo)
    with pytest.raises(EditMatchError, match=r"pkg/twice.py: SEARCH matches 2 places") as err:
        propose(repo, block("pkg/twice.py", "x = 1\n", "x = 3\n"))
    assert "    x = 1" in str(err.value)  # the first lines of the block are shown
    with pytest.raises(EditMatchError, match=r"matches 2 places \(ignoring trailing whitespace\)"):
        propose(repo, block("pkg/twice.py", "x = 1   \n", "x = 3\n"))
    assert snapshot(repo) == before
    p = propose(repo, block("pkg/twice.py", "y = 2\nx = 1\n", "y = 2\nx = 3\n"))  # made unique
    assert p.changes[0].new_text == "x = 1\ny = 2\nx = 3\n"


def test_search_not_found(repo):
    with pytest.raises(EditMatchError, match=r"pkg/app.py: SEARCH is not in the file") as err:
        propose(repo, block("pkg/app.py", "def remove(path):\n    pass\n", "\n"))
    assert "def remove(path):" in str(err.value)
    with pytest.raises(EditMatchError, match="no such file"):
        propose(repo, block("pkg/missing.py", "x = 1\n", "x = 2\n"))


def test_trailing_whitespace_is_forgiven_once(repo):
    (repo / "pkg" / "app.py").write_text(APP.replace("def load(path):\n", "def load(path):   \n"))
    p = propose(repo, block("pkg/app.py", "def load(path):\n    with open(path) as f:\n",
                            "def load(path):\n    with open(path, encoding='utf-8') as f:\n"))
    new = p.changes[0].new_text
    assert "def load(path):\n    with open(path, encoding='utf-8') as f:\n        return json.load(f)\n" in new
    assert new.count("\n") == APP.count("\n")


def test_new_file_and_empty_search_on_existing_file(repo):
    p = propose(repo, block("pkg/util.py", "", "def helper():\n    return 1\n"))
    (change,) = p.changes
    assert change.created and change.base_sha256 == "" and change.path == "pkg/util.py"
    assert change.diff.startswith("diff --git a/pkg/util.py b/pkg/util.py\nnew file mode 100644\n--- /dev/null\n")
    with pytest.raises(EditMatchError, match="SEARCH is empty but the file exists"):
        propose(repo, block("pkg/app.py", "", "x = 1\n"))


@pytest.mark.parametrize("path,message", [
    ("/etc/passwd", "absolute paths"),
    ("../outside.py", "'..'"),
    ("pkg/../../outside.py", "'..'"),
    (".git/config", ".git"),
    ("C:\\Windows\\x.py", "absolute paths"),
])
def test_paths_must_stay_inside_the_root(repo, path, message):
    with pytest.raises(EditPathError, match=message):
        propose(repo, block(path, "", "x = 1\n"))


def test_symlinks_cannot_lead_outside(repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.py").write_text("x = 1\n")
    (repo / "linked").symlink_to(outside, target_is_directory=True)
    (repo / "pkg" / "alias.py").symlink_to(repo / "pkg" / "app.py")
    with pytest.raises(EditPathError, match="outside the repository root"):
        propose(repo, block("linked/victim.py", "x = 1\n", "x = 2\n"))
    with pytest.raises(EditPathError, match="outside the repository root"):
        propose(repo, block("linked/new.py", "", "x = 2\n"))
    with pytest.raises(EditPathError, match="symbolic link"):
        propose(repo, block("pkg/alias.py", "import json\n", "import os\n"))
    assert (outside / "victim.py").read_text() == "x = 1\n"


# --- checks ------------------------------------------------------------------------------


def test_a_syntax_error_introduced_is_reported(repo):
    p = propose(repo, block("pkg/app.py", "def save(path, data):\n", "def save(path, data:\n"))
    (check,) = p.checks
    assert check.checked and check.language == "python"
    assert check.errors_before == 0 and check.errors_after >= 1
    assert not check.ok and not p.ok
    assert "introduces syntax errors" in check.note
    assert all(1 <= line <= 11 for line in check.error_lines)


def test_existing_syntax_errors_are_not_blamed_on_the_edit(repo):
    (repo / "pkg" / "broken.py").write_text("def f(:\n    pass\n\nx = 1\n")
    p = propose(repo, block("pkg/broken.py", "x = 1\n", "x = 2\n"))
    assert p.ok and p.checks[0].errors_before == p.checks[0].errors_after >= 1


def test_files_of_other_languages_are_checked_or_said_unchecked(repo):
    p = propose(repo, block("pkg/notes.md", "Some text.\n", "Other text.\n"))
    (check,) = p.checks
    assert not check.checked and check.ok and "not checked" in check.note
    assert any("not checked" in n for n in p.notes)
    (repo / "web.js").write_text("function f(a) {\n  return a;\n}\n")
    p = propose(repo, block("web.js", "  return a;\n", "  return (a;\n"))
    assert p.checks[0].language == "javascript" and not p.ok


def test_bandit_findings_beside_the_diff(repo):
    reply = block("pkg/app.py", "import json\n", "import json\nimport subprocess\n") + block(
        "pkg/app.py", "def save(path, data):\n",
        "def run(cmd):\n    return subprocess.call(cmd, shell=True)\n\n\ndef save(path, data):\n")
    p = propose(repo, reply)
    by_id = {f.test_id: f for f in p.findings}
    assert "B602" in by_id  # subprocess call with shell=True
    shell = by_id["B602"]
    assert shell.severity == "HIGH" and shell.introduced and shell.path == "pkg/app.py"
    assert p.changes[0].new_text.splitlines()[shell.line - 1].strip() == "return subprocess.call(cmd, shell=True)"
    # the same finding already in the file is not "introduced" by a later edit
    (repo / "pkg" / "app.py").write_text(p.changes[0].new_text)
    again = propose(repo, block("pkg/app.py", "def load(path):\n", "def load_json(path):\n"))
    assert {f.test_id: f.introduced for f in again.findings}["B602"] is False
    assert propose(repo, reply.split("pkg/app.py\n<<<<<<< SEARCH\ndef save")[0], run_bandit=False).findings == []


def test_diff_applies_with_git_and_dependents_hook(repo):
    calls = []

    def dependents(path, ranges):
        calls.append((path, ranges))
        return [f"pkg/cli.py:12 main calls {path} (lines {ranges[0][0]}-{ranges[0][1]})", "tests/test_app.py:3"]

    reply = block("pkg/app.py", "def save(path, data):\n    with open(path, 'w') as f:\n",
                  "def save(path, data):\n    with open(path, 'w', encoding='utf-8') as f:\n") + block(
        "pkg/new_mod.py", "", "VALUE = 1\n")
    p = propose(repo, reply, dependents=dependents)
    assert calls == [("pkg/app.py", [(10, 10)])]  # only the changed line of the old file; new files skipped
    assert p.may_need_updating == ["pkg/cli.py:12 main calls pkg/app.py (lines 10-10)", "tests/test_app.py:3"]
    assert "-    with open(path, 'w') as f:\n+    with open(path, 'w', encoding='utf-8') as f:\n" in p.diff
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        (repo / "change.diff").write_text(p.diff)
        res = subprocess.run(["git", "apply", "--check", "change.diff"], cwd=repo, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


def test_crlf_files_keep_their_line_ends(repo):
    (repo / "win.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    p = propose(repo, block("win.py", "b = 2\n", "b = 3\n"))
    assert p.changes[0].new_text == "a = 1\r\nb = 3\r\n"
    apply(p, repo)
    assert (repo / "win.py").read_bytes() == b"a = 1\r\nb = 3\r\n"


def test_a_form_feed_is_no_line_break_for_blocks_diffs_or_ranges(repo):
    """A file with a form feed inside a line (as Emacs-era Python has): a SEARCH block holding
    that line matches, the changed range is the file's own line, and `git apply` takes the diff."""
    text = "a = 1\n\x0c\nb = 2  # section\x0c end\nc = 3\nd = 4\n"
    (repo / "ff.py").write_text(text)
    seen = []
    p = propose(repo, block("ff.py", "b = 2  # section\x0c end\nc = 3\n", "b = 2  # section\x0c end\nc = 30\n"),
                dependents=lambda path, ranges: seen.append(ranges) or [])
    assert p.changes[0].new_text == text.replace("c = 3\n", "c = 30\n")
    assert seen == [[(4, 4)]]
    assert "\\ No newline" not in p.diff
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        (repo / "change.diff").write_text(p.diff)
        res = subprocess.run(["git", "apply", "--check", "change.diff"], cwd=repo, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


def test_texts_given_by_the_caller_are_what_the_edit_is_made_against(repo):
    seen = APP.replace("import json", "import json  # as indexed")
    p = propose(repo, block("pkg/app.py", "import json  # as indexed\n", "import json\nimport os\n"),
                texts={"pkg/app.py": seen})
    assert p.changes[0].base_sha256 == sha256_text(seen)
    with pytest.raises(StaleFileError, match="changed since"):  # the disk has other content
        apply(p, repo)


# --- applying ----------------------------------------------------------------------------


def test_apply_writes_atomically_keeping_the_mode(repo):
    reply = block("pkg/run.sh", "echo hi\n", "echo hello\n") + block("pkg/app.py", "import json\n",
                                                                     "import json\nimport os\n")
    p = propose(repo, reply)
    with (repo / "pkg" / "run.sh").open() as held:  # a reader that opened the old file
        written = apply(p, repo, expected={"pkg/run.sh": sha256_text("#!/bin/sh\necho hi\n")})
        assert held.read() == "#!/bin/sh\necho hi\n"  # replaced, not rewritten in place
    assert written == ["pkg/run.sh", "pkg/app.py"]
    assert (repo / "pkg" / "run.sh").read_text() == "#!/bin/sh\necho hello\n"
    assert (repo / "pkg" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (repo / "pkg" / "app.py").read_text().startswith("import json\nimport os\n")
    assert not [p for p in repo.rglob("*") if "repoqa-tmp" in p.name]


def test_apply_refuses_when_a_file_changed_and_writes_nothing(repo):
    p = propose(repo, block("pkg/notes.md", "Some text.\n", "Other text.\n")
                + block("pkg/app.py", "import json\n", "import json\nimport os\n"))
    (repo / "pkg" / "app.py").write_text(APP + "\n# edited by someone else\n")
    before = snapshot(repo)
    with pytest.raises(StaleFileError, match="pkg/app.py changed since"):
        apply(p, repo)
    assert snapshot(repo) == before  # notes.md, checked first, was not written either


def test_apply_refuses_other_content_than_the_bundle_saw(repo):
    p = propose(repo, block("pkg/app.py", "import json\n", "import json\nimport os\n"))
    before = snapshot(repo)
    with pytest.raises(StaleFileError, match="other content than the bundle saw"):
        apply(p, repo, expected={"pkg/app.py": sha256_text("something else")})
    assert snapshot(repo) == before


def test_apply_refuses_to_overwrite_a_file_created_meanwhile(repo):
    p = propose(repo, block("pkg/fresh.py", "", "x = 1\n"))
    (repo / "pkg" / "fresh.py").write_text("y = 2\n")
    with pytest.raises(StaleFileError, match="exists now"):
        apply(p, repo)
    assert (repo / "pkg" / "fresh.py").read_text() == "y = 2\n"
    (repo / "pkg" / "fresh.py").unlink()
    assert apply(p, repo) == ["pkg/fresh.py"] and (repo / "pkg" / "fresh.py").read_text() == "x = 1\n"


def test_write_atomic_leaves_no_partial_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    with pytest.raises(OSError):
        write_atomic(tmp_path / "missing-dir" / "f.txt", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_binary_files_are_refused(repo):
    (repo / "blob.bin.py").write_bytes(b"\x00\x01\x02")
    with pytest.raises(EditError, match="binary"):
        propose(repo, block("blob.bin.py", "x", "y"))


def test_edit_messages_mask_secrets_and_use_the_prompt_file():
    unit = BundleUnit(path="pkg/conf.py", start_line=1, end_line=2, symbols=(), kind="lines", reason="matched",
                      score=1.0, text='API_KEY = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"\nDEBUG = True\n')
    bundle = Bundle(query="q", snapshot="0123456789ab", repo_map="pkg/conf.py", units=[unit])
    blocks = edit_messages(bundle, "turn DEBUG off")
    assert [m["role"] for m in blocks] == ["system", "user"]
    assert "<<<<<<< SEARCH" in blocks[0]["content"] and '{"edits"' not in blocks[0]["content"]
    assert "AIzaSy" not in blocks[1]["content"] and "[MASKED:google_api_key]" in blocks[1]["content"]
    assert blocks[1]["content"].rstrip().endswith("turn DEBUG off")
    as_json = edit_messages(bundle, "turn DEBUG off", json_mode=True)
    assert '{"edits"' in as_json[0]["content"] and "<<<<<<< SEARCH" not in as_json[0]["content"]
