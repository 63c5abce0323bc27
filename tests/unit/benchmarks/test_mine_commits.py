"""Mining commit tasks from a real git history."""

from __future__ import annotations

from conftest import git, git_repo, write_tree

from benchmarks.mine_commits import changed_old_lines, is_source, mine

CORE = ("class Cart:\n"
        "    def add(self, item):\n"
        "        self.items.append(item)\n"
        "\n"
        "    def total(self):\n"
        "        def price(i):\n"
        "            return i.price\n"
        "        return sum(price(i) for i in self.items)\n")


def commit(root, files, message):
    write_tree(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


class Edits:
    """One file's successive edits, each committed with the other files given."""

    def __init__(self, root, path, text):
        self.root, self.path, self.text = root, path, text

    def __call__(self, old, new, message, **other):
        self.text = self.text.replace(old, new)
        commit(self.root, {self.path: self.text, **other}, message)


def test_tasks_are_described_changes_to_existing_source(tmp_path):
    root = git_repo(tmp_path / "r", {"pkg/core.py": CORE, "tests/test_core.py": "def test_x():\n    pass\n"})
    change = Edits(root, "pkg/core.py", CORE)

    change("return i.price", "return i.price or 0", "Treat a missing price as nothing")
    change("append(item)", "append(item)  # fast", "Speed up putting things in (#123)")
    change("append(item)  # fast", "append(item)  # faster", "Bump version to 2.0 now")  # inside Cart.add
    change("append(item)  # faster", "append(item)  # fast", "[maven-release-plugin] prepare release cart-2.0")
    change("sum(", "sum(0 + ", "Add a module for the prices", **{"pkg/prices.py": "X = 1\n"})
    commit(root, {"tests/test_core.py": "def test_x():\n    assert True\n"}, "Make the only test stricter")
    change("return sum(0 + price(i) for i in self.items)\n",
           "return sum(0 + price(i) for i in self.items)\n\n\ndef helper():\n    return 1\n",
           "Add a helper at the very end")  # after Cart, in no definition: no gold, no task
    change("def total(self):", "def total(self):  # sum", "Fix the total of a cart")
    rows = mine(root, "o/r", since="2000-01-01", count=0)
    assert [r["question"] for r in rows] == ["Treat a missing price as nothing", "Speed up putting things in",
                                             "Fix the total of a cart"]
    first, second, third = rows
    assert first["gold_files"] == ["pkg/core.py"] and first["gold_functions"] == ["pkg/core.py::Cart.total.price"]
    assert second["gold_functions"] == ["pkg/core.py::Cart.add"] and not second["leak"]
    assert third["leak"]  # it names the changed definition
    assert first["parent"] == git(root, "rev-parse", f"{first['commit']}^").strip()
    spread = mine(root, "o/r", since="2000-01-01", count=2)
    assert [r["commit"] for r in spread] == [first["commit"], second["commit"]]  # rows 0 and 3 // 2


def test_changed_lines_of_the_old_file():
    diff = "@@ -3 +3 @@\n-a\n+b\n@@ -10,2 +10,0 @@\n-x\n-y\n@@ -20,0 +21,4 @@\n+new\n"
    assert changed_old_lines(diff) == [(3, False), (10, False), (11, False), (20, True)]


GO = ("package cart\n"
      "\n"
      "type Cart struct {\n"
      "\tItems []int\n"
      "}\n"
      "\n"
      "// Total sums the items.\n"
      "func (c *Cart) Total() int {\n"
      "\tt := 0\n"
      "\tfor _, i := range c.Items {\n"
      "\t\tt += i\n"
      "\t}\n"
      "\treturn t\n"
      "}\n"
      "\n"
      "var Limit = 10\n")


def test_other_languages_take_the_indexers_definitions(tmp_path):
    root = git_repo(tmp_path / "g", {"cart/cart.go": GO, "cart/testdata/in.go": "package x\n",
                                     "vendor/lib/lib.go": "package lib\n", "cart/cart_test.go": "package cart\n"})
    change = Edits(root, "cart/cart.go", GO)

    change("t += i", "t += i * 2", "Count every item twice over")
    change("Items []int", "Items []int // kept", "Explain what a cart keeps", **{"cart/testdata/in.go": "package y\n",
                                                                               "vendor/lib/lib.go": "package z\n"})
    change("var Limit = 10", "var Limit = 20", "Raise the limit of a cart")  # in no function or type: no task
    commit(root, {"cart/testdata/in.go": "package w\n"}, "Change only the test inputs here")
    rows = mine(root, "o/g", since="2000-01-01", count=0)
    assert [r["question"] for r in rows] == ["Count every item twice over", "Explain what a cart keeps"]
    first, second = rows
    assert first["gold_files"] == ["cart/cart.go"] and first["gold_functions"] == ["cart/cart.go::Cart.Total"]
    assert first["gold_functions_source"] == "tree-sitter"
    assert second["gold_files"] == ["cart/cart.go"]  # test data and vendored code are not the change's source
    assert second["gold_functions"] == ["cart/cart.go::Cart"]
    assert mine(root, "o/g", since="2000-01-01", count=0, languages=("python",)) == []


def test_sources_by_language_and_place():
    assert is_source("src/app.rs") and is_source("pkg/a.py") and is_source("lib/x.ts")
    assert is_source("src/app.rs", ("python",)) is False
    assert not any(map(is_source, ["tests/a.py", "pkg/a_test.go", "pkg/testdata/a.go", "third_party/x/y.c",
                                   "docs/conf.py", "web/app.min.js", "README.md", "pkg/fixtures/a.py"]))
