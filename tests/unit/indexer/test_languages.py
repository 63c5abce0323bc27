"""Golden tests: index the small multi-file repositories under tests/fixtures/repos/<lang>/
and compare what the indexer extracted with what each file really says.

Every table below was written from the fixture sources, not copied from the indexer's
output. Definitions are compared per file as (qualname, kind, start_line, end_line) and
references as (name, kind, line, scope, module, alias, enclosing), both with full equality.
Conventions the tables rely on:

- A definition's span is its own node plus its wrappers (Python decorators, `export`,
  C++ `template <...>`); doc comments and Rust attributes before it are not part of it
  (the chunk that holds it starts at its doc comment instead).
- A type name is a type reference wherever it is used, also where an inheritance
  reference names it (Java `implements I` is both `inherit` and `type`).
- JS/TS default and namespace imports, side-effect imports, Go imports and C includes
  have no imported name: their name is the module. Rust `use` paths and Java imports
  are whole paths in `name`.

Known bugs of the Python side of the indexer (which a query cannot fix) are listed in
KNOWN_BUGS with the correct rows; the per-file tests leave those rows out, and
test_known_bug checks them, marked xfail(strict=True), so a fix shows up as XPASS.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from indexer.options import IndexOptions
from indexer.store import Store
from indexer.update import index_dir_for, update_index

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "repos"
REPOS = ("python", "javascript", "typescript", "go", "rust", "java", "c", "cpp")
JAVA_PKG = "src/main/java/com/example/bank"


# -- indexing the fixtures (once per session) -----------------------------------------------


@pytest.fixture(scope="session")
def indexed(tmp_path_factory):
    """repo name -> root of an indexed copy of tests/fixtures/repos/<repo>."""
    roots: dict[str, Path] = {}

    def get(repo: str) -> Path:
        if repo not in roots:
            root = tmp_path_factory.mktemp("golden") / repo
            shutil.copytree(FIXTURES / repo, root)
            update_index(root, IndexOptions(workers=1))
            roots[repo] = root
        return roots[repo]

    return get


@pytest.fixture(scope="session")
def open_store(indexed):
    stores: dict[str, Store] = {}

    def get(repo: str) -> Store:
        if repo not in stores:
            stores[repo] = Store.open_reader(index_dir_for(indexed(repo)))
        return stores[repo]

    yield get
    for store in stores.values():
        store.close()


# -- table helpers ---------------------------------------------------------------------------


def symbol_rows(store: Store, path: str) -> list[tuple]:
    return [(s.qualname, s.kind, s.start_line, s.end_line) for s in store.symbols_in(path)]


def reference_rows(store: Store, path: str) -> list[tuple]:
    return [(r.name, r.kind, r.line, r.scope, r.module, r.alias, r.enclosing)
            for r in store.references_in(path)]


def symbol_key(row: tuple) -> tuple:
    """(simple name, start line): stable even where a known bug garbles the qualname."""
    qualname, _kind, start, _end = row
    return qualname.rsplit(".", 1)[-1], start


def reference_key(row: tuple) -> tuple:
    name, kind, line = row[:3]
    return name, kind, line


def _sorted(rows: list[tuple]) -> list[tuple]:
    # Order by line first so that a failing comparison reads like the file.
    return sorted(rows, key=lambda r: (r[2], r))


def assert_symbols(store: Store, path: str, expected: list[tuple], ignore=frozenset()) -> None:
    actual = [r for r in symbol_rows(store, path) if symbol_key(r) not in ignore]
    assert _sorted(actual) == _sorted(expected), path


def assert_references(store: Store, path: str, expected: list[tuple], ignore=frozenset()) -> None:
    actual = [r for r in reference_rows(store, path) if reference_key(r) not in ignore]
    assert _sorted(actual) == _sorted(expected), path


# -- what each repository holds ---------------------------------------------------------------

FILES = {
    "python": {"shop/__init__.py": "python", "shop/checkout.py": "python",
               "shop/models.py": "python", "shop/pricing.py": "python"},
    "javascript": {"package.json": "text", "src/main.js": "javascript",
                   "src/shapes.js": "javascript", "src/util.js": "javascript"},
    "typescript": {"src/types.ts": "typescript", "src/userService.ts": "typescript",
                   "src/UserCard.tsx": "tsx"},
    "go": {"go.mod": "text", "main.go": "go", "store/item.go": "go", "store/store.go": "go"},
    "rust": {"Cargo.toml": "text", "src/main.rs": "rust", "src/render.rs": "rust",
             "src/shapes.rs": "rust"},
    "java": {f"{JAVA_PKG}/{n}.java": "java"
             for n in ("Account", "Bank", "InterestBearing", "SavingsAccount")},
    "c": {"src/list.c": "c", "src/list.h": "c", "src/main.c": "c"},
    "cpp": {"include/shape.hpp": "cpp", "src/main.cpp": "cpp", "src/shape.cpp": "cpp"},
}

# (qualname, kind, start_line, end_line) per file.
SYMBOLS: dict[tuple[str, str], list[tuple]] = {
    ("python", "shop/__init__.py"): [
        ("__all__", "variable", 5, 5),
    ],
    ("python", "shop/models.py"): [
        ("TAX_RATE", "variable", 5, 5),
        ("Item", "class", 8, 17),  # from its decorator
        ("Item.sku", "field", 12, 12),
        ("Item.price", "field", 13, 13),
        ("Item.quantity", "field", 14, 14),
        ("Item.subtotal", "method", 16, 17),
        ("Cart", "class", 20, 33),
        ("Cart.items", "field", 22, 22),
        ("Cart.add", "method", 24, 30),
        ("Cart.total", "method", 32, 33),
    ],
    ("python", "shop/pricing.py"): [
        ("DiscountRule", "class", 6, 10),
        ("DiscountRule.discount", "method", 9, 10),
        ("PercentOff", "class", 13, 18),
        ("PercentOff.__init__", "method", 14, 15),
        ("PercentOff.discount", "method", 17, 18),
        ("apply_discount", "function", 21, 24),
    ],
    ("python", "shop/checkout.py"): [
        ("log", "variable", 7, 7),
        ("Checkout", "class", 10, 18),
        ("Checkout.__init__", "method", 11, 13),
        ("Checkout.pay", "method", 15, 18),
        ("quick_checkout", "function", 21, 25),
    ],
    ("javascript", "src/shapes.js"): [
        ("Shape", "class", 4, 12),  # from `export`; its JSDoc is lines 1-3
        ("Shape.constructor", "method", 5, 7),
        ("Shape.area", "method", 9, 11),
        ("Circle", "class", 14, 23),
        ("Circle.constructor", "method", 15, 18),
        ("Circle.area", "method", 20, 22),
        ("Rect", "class", 25, 35),
        ("Rect.constructor", "method", 26, 30),
        ("Rect.area", "method", 32, 34),
        ("square", "function", 37, 37),
    ],
    ("javascript", "src/util.js"): [
        ("sumAreas", "function", 2, 4),
        ("formatArea", "function", 6, 6),
        ("units", "variable", 8, 14),
        ("units.label", "method", 10, 12),
        ("units.describe", "function", 13, 13),
        ("report", "function", 16, 18),
    ],
    ("javascript", "src/main.js"): [
        ("DEFAULT_CONFIG", "variable", 7, 7),
        ("loadConfig", "function", 9, 14),
        ("main", "function", 16, 21),
    ],
    ("typescript", "src/types.ts"): [
        ("Entity", "interface", 2, 4),
        ("User", "interface", 6, 9),
        ("UserId", "type", 11, 11),
        ("Status", "enum", 13, 16),
        ("Repository", "interface", 18, 21),
        ("Repository.get", "method", 19, 19),
        ("Repository.save", "method", 20, 20),
        ("BaseService", "class", 24, 32),
        ("BaseService.constructor", "method", 25, 25),
        ("BaseService.log", "method", 27, 29),
        ("BaseService.health", "method", 31, 31),
    ],
    ("typescript", "src/userService.ts"): [
        ("UserService", "class", 4, 26),
        ("UserService.constructor", "method", 7, 9),
        ("UserService.get", "method", 11, 13),
        ("UserService.save", "method", 15, 18),
        ("UserService.health", "method", 20, 22),
        ("UserService.displayName", "method", 25, 25),
        ("createUserService", "function", 28, 30),
    ],
    ("typescript", "src/UserCard.tsx"): [
        ("UserCardProps", "interface", 4, 7),
        ("UserCard", "function", 10, 18),
        ("UserList", "function", 20, 28),
    ],
    ("go", "store/item.go"): [
        ("store", "package", 1, 1),
        ("Item", "struct", 6, 9),
        ("Reader", "interface", 12, 14),
        ("Reader.Get", "method", 13, 13),
        ("Item.String", "method", 16, 18),  # qualified by its receiver type
    ],
    ("go", "store/store.go"): [
        ("store", "package", 1, 1),
        ("ErrEmptySKU", "variable", 8, 8),
        ("Store", "struct", 11, 14),
        ("New", "function", 17, 19),
        ("Store.Add", "method", 22, 31),
        ("Store.Get", "method", 33, 38),
    ],
    ("go", "main.go"): [
        ("main", "package", 1, 1),
        ("auditedStore", "struct", 11, 14),
        ("auditedStore.Add", "method", 16, 19),
        ("report", "function", 21, 26),
        ("main", "function", 28, 34),
    ],
    ("rust", "src/shapes.rs"): [
        ("Shape", "trait", 5, 11),
        ("Shape.area", "method", 6, 6),
        ("Shape.name", "method", 8, 10),
        ("Circle", "struct", 14, 17),  # from its #[derive] (14), like a decorator; doc on 13
        ("Circle", "impl", 19, 24),
        ("Circle.new", "method", 21, 23),
        ("Circle", "impl", 26, 30),
        ("Circle.area", "method", 27, 29),
        ("Polygon", "enum", 33, 38),  # two attribute lines belong to it
    ],
    ("rust", "src/render.rs"): [
        ("Polygon", "impl", 3, 10),
        ("Polygon.area", "method", 4, 9),
        ("render", "function", 13, 19),
    ],
    ("rust", "src/main.rs"): [
        ("render", "module", 1, 1),
        ("shapes", "module", 2, 2),
        ("UNIT_RADIUS", "constant", 7, 7),
        ("total_area", "function", 9, 11),
        ("main", "function", 13, 21),
    ],
    ("java", f"{JAVA_PKG}/InterestBearing.java"): [
        ("com.example.bank", "package", 1, 1),
        ("InterestBearing", "interface", 6, 12),
        ("InterestBearing.rate", "method", 7, 7),
        ("InterestBearing.interestFor", "method", 9, 11),
    ],
    ("java", f"{JAVA_PKG}/Account.java"): [
        ("com.example.bank", "package", 1, 1),
        ("Account", "class", 5, 31),
        ("Account.owner", "field", 6, 6),
        ("Account.balance", "field", 7, 7),
        ("Account.Account", "constructor", 9, 11),
        ("Account.deposit", "method", 17, 22),
        ("Account.getBalance", "method", 24, 26),
        ("Account.getOwner", "method", 28, 30),
    ],
    ("java", f"{JAVA_PKG}/SavingsAccount.java"): [
        ("com.example.bank", "package", 1, 1),
        ("SavingsAccount", "class", 5, 21),
        ("SavingsAccount.rate", "field", 6, 6),
        ("SavingsAccount.SavingsAccount", "constructor", 8, 11),
        ("SavingsAccount.rate", "method", 13, 16),  # from its @Override
        ("SavingsAccount.accrue", "method", 18, 20),
    ],
    ("java", f"{JAVA_PKG}/Bank.java"): [
        ("com.example.bank", "package", 1, 1),
        ("Bank", "class", 8, 22),
        ("Bank.accounts", "field", 9, 9),
        ("Bank.openSavings", "method", 11, 15),
        ("Bank.totalDeposits", "method", 17, 21),
    ],
    ("c", "src/list.h"): [
        ("LIST_H", "macro", 2, 2),  # a #define ends with its line, not on the next one
        ("LIST_EMPTY", "macro", 6, 6),
        ("list_node", "struct", 8, 11),
        ("list_t", "type", 13, 16),
        ("list_push", "prototype", 19, 19),
        ("list_sum", "prototype", 20, 20),
        ("list_free", "prototype", 21, 21),
    ],
    ("c", "src/list.c"): [
        ("node_new", "function", 5, 11),
        ("list_push", "function", 13, 25),
        ("list_sum", "function", 28, 34),
        ("list_free", "function", 36, 43),
    ],
    ("c", "src/main.c"): [
        ("main", "function", 5, 16),
    ],
    ("cpp", "include/shape.hpp"): [
        ("geo", "namespace", 6, 33),
        ("geo.Shape", "class", 9, 14),
        ("geo.Shape.~Shape", "method", 11, 11),
        ("geo.Shape.area", "method", 12, 12),
        ("geo.Shape.describe", "method", 13, 13),
        ("geo.Circle", "class", 16, 23),
        ("geo.Circle.Circle", "method", 18, 18),
        ("geo.Circle.area", "method", 19, 19),
        ("geo.Square", "struct", 25, 29),
        ("geo.Square.Square", "method", 27, 27),
        ("geo.Square.area", "method", 28, 28),
        ("geo.make_shape", "prototype", 31, 31),
    ],
    ("cpp", "src/shape.cpp"): [
        ("geo.Circle.area", "method", 7, 9),  # out of line: the whole qualifier geo::Circle::
        ("geo", "namespace", 11, 26),
        ("geo.Shape.describe", "method", 13, 17),  # Shape:: inside namespace geo
        ("geo.make_shape", "function", 19, 24),
    ],
    ("cpp", "src/main.cpp"): [
        ("total_area", "function", 9, 16),  # from `template <typename T>`
        ("main", "function", 18, 27),
    ],
}

# (name, kind, line, scope, module, alias, enclosing) per file.
REFERENCES: dict[tuple[str, str], list[tuple]] = {
    ("python", "shop/__init__.py"): [
        ("quick_checkout", "import", 3, "", ".checkout", "", ""),
    ],
    ("python", "shop/models.py"): [
        ("dataclass", "import", 3, "", "dataclasses", "", ""),
        ("field", "import", 3, "", "dataclasses", "", ""),
        ("dataclass", "call", 8, "", "", "", "Item"),
        ("str", "type", 12, "", "", "", "Item.sku"),
        ("float", "type", 13, "", "", "", "Item.price"),
        ("int", "type", 14, "", "", "", "Item.quantity"),
        ("float", "type", 16, "", "", "", "Item.subtotal"),
        ("dataclass", "call", 20, "", "", "", "Cart"),
        ("list", "type", 22, "", "", "", "Cart.items"),
        ("Item", "type", 22, "", "", "", "Cart.items"),
        ("field", "call", 22, "", "", "", "Cart.items"),
        ("Item", "type", 24, "", "", "", "Cart.add"),
        ("append", "call", 30, "self.items", "", "", "Cart.add"),
        ("float", "type", 32, "", "", "", "Cart.total"),
        ("sum", "call", 33, "", "", "", "Cart.total"),
        ("subtotal", "call", 33, "i", "", "", "Cart.total"),
    ],
    ("python", "shop/pricing.py"): [
        ("Cart", "import", 3, "", "shop.models", "", ""),
        ("Cart", "type", 9, "", "", "", "DiscountRule.discount"),
        ("float", "type", 9, "", "", "", "DiscountRule.discount"),
        ("DiscountRule", "inherit", 13, "", "", "", "PercentOff"),
        ("float", "type", 14, "", "", "", "PercentOff.__init__"),
        ("Cart", "type", 17, "", "", "", "PercentOff.discount"),
        ("float", "type", 17, "", "", "", "PercentOff.discount"),
        ("total", "call", 18, "cart", "", "", "PercentOff.discount"),
        ("Cart", "type", 21, "", "", "", "apply_discount"),
        ("list", "type", 21, "", "", "", "apply_discount"),
        ("DiscountRule", "type", 21, "", "", "", "apply_discount"),
        ("float", "type", 21, "", "", "", "apply_discount"),
        ("max", "call", 23, "", "", "", "apply_discount"),
        ("discount", "call", 23, "rule", "", "", "apply_discount"),
        ("round", "call", 24, "", "", "", "apply_discount"),
        ("total", "call", 24, "cart", "", "", "apply_discount"),
    ],
    ("python", "shop/checkout.py"): [
        ("logging", "import", 1, "", "", "", ""),
        ("pricing", "import", 3, "", "shop", "pr", ""),
        ("Cart", "import", 4, "", "shop.models", "ShoppingCart", ""),
        ("Item", "import", 4, "", "shop.models", "", ""),
        ("PercentOff", "import", 5, "", "shop.pricing", "", ""),
        ("getLogger", "call", 7, "logging", "", "", "log"),
        ("ShoppingCart", "inherit", 10, "", "", "", "Checkout"),
        ("float", "type", 11, "", "", "", "Checkout.__init__"),
        ("super", "call", 12, "", "", "", "Checkout.__init__"),
        ("__init__", "call", 12, "super()", "", "", "Checkout.__init__"),
        ("PercentOff", "call", 13, "", "", "", "Checkout.__init__"),
        ("float", "type", 15, "", "", "", "Checkout.pay"),
        ("apply_discount", "call", 16, "pr", "", "", "Checkout.pay"),
        ("info", "call", 17, "log", "", "", "Checkout.pay"),
        ("list", "type", 21, "", "", "", "quick_checkout"),
        ("str", "type", 21, "", "", "", "quick_checkout"),
        ("float", "type", 21, "", "", "", "quick_checkout"),
        ("Checkout", "call", 22, "", "", "", "quick_checkout"),
        ("add", "call", 24, "checkout", "", "", "quick_checkout"),
        ("Item", "call", 24, "", "", "", "quick_checkout"),
        ("pay", "call", 25, "checkout", "", "", "quick_checkout"),
    ],
    ("javascript", "src/shapes.js"): [
        ("Error", "call", 10, "", "", "", "Shape.area"),
        ("Shape", "inherit", 14, "", "", "", "Circle"),
        ("Shape", "inherit", 25, "", "", "", "Rect"),
        ("Rect", "call", 37, "", "", "", "square"),
    ],
    ("javascript", "src/util.js"): [
        ("reduce", "call", 3, "shapes", "", "", "sumAreas"),
        ("area", "call", 3, "s", "", "", "sumAreas"),
        ("toFixed", "call", 6, "value", "", "", "formatArea"),
        ("formatArea", "call", 11, "", "", "", "units.label"),
        ("map", "call", 17, "shapes", "", "", "report"),
        ("label", "call", 17, "units", "", "", "report"),
        ("area", "call", 17, "s", "", "", "report"),
        ("join", "call", 17, "shapes.map((s) => `${s.name}: ${units.label(s.area())}`)", "", "", "report"),
    ],
    ("javascript", "src/main.js"): [
        ("Circle", "import", 1, "", "./shapes.js", "", ""),
        ("square", "import", 1, "", "./shapes.js", "makeSquare", ""),
        ("sumAreas", "import", 2, "", "./util.js", "", ""),
        ("./util.js", "import", 2, "", "./util.js", "report", ""),  # default import
        ("./util.js", "import", 3, "", "./util.js", "util", ""),  # namespace import
        ("node:fs", "import", 5, "", "node:fs", "", ""),  # require()
        ("parse", "call", 13, "JSON", "", "", "loadConfig"),
        ("readFileSync", "call", 13, "", "", "", "loadConfig"),
        ("loadConfig", "call", 17, "", "", "", "main"),
        ("Circle", "call", 18, "", "", "", "main"),
        ("makeSquare", "call", 18, "", "", "", "main"),
        ("log", "call", 19, "console", "", "", "main"),
        ("report", "call", 19, "", "", "", "main"),
        ("log", "call", 20, "console", "", "", "main"),
        ("formatArea", "call", 20, "util", "", "", "main"),
        ("sumAreas", "call", 20, "", "", "", "main"),
        ("main", "call", 23, "", "", "", ""),
    ],
    ("typescript", "src/types.ts"): [
        ("Entity", "inherit", 6, "", "", "", "User"),
        ("Entity", "type", 6, "", "", "", "User"),
        ("User", "type", 11, "", "", "", "UserId"),
        # the declaration of T (line 18) is no use of it
        ("Entity", "type", 18, "", "", "", "Repository"),
        ("Promise", "type", 19, "", "", "", "Repository.get"),
        ("T", "type", 19, "", "", "", "Repository.get"),
        ("T", "type", 20, "", "", "", "Repository.save"),
        ("Promise", "type", 20, "", "", "", "Repository.save"),
        ("log", "call", 28, "console", "", "", "BaseService.log"),
        ("Status", "type", 31, "", "", "", "BaseService.health"),
    ],
    ("typescript", "src/userService.ts"): [
        ("BaseService", "import", 1, "", "./types", "", ""),
        ("Status", "import", 1, "", "./types", "", ""),
        ("Repository", "import", 2, "", "./types", "", ""),
        ("User", "import", 2, "", "./types", "UserRecord", ""),
        ("UserId", "import", 2, "", "./types", "", ""),
        ("BaseService", "inherit", 4, "", "", "", "UserService"),
        ("Repository", "inherit", 4, "", "", "", "UserService"),
        ("Repository", "type", 4, "", "", "", "UserService"),
        ("UserRecord", "type", 4, "", "", "", "UserService"),
        ("Map", "call", 5, "", "", "", "UserService"),
        ("UserId", "type", 5, "", "", "", "UserService"),
        ("UserRecord", "type", 5, "", "", "", "UserService"),
        ("UserId", "type", 11, "", "", "", "UserService.get"),
        ("Promise", "type", 11, "", "", "", "UserService.get"),
        ("UserRecord", "type", 11, "", "", "", "UserService.get"),
        ("get", "call", 12, "this.users", "", "", "UserService.get"),
        ("UserRecord", "type", 15, "", "", "", "UserService.save"),
        ("Promise", "type", 15, "", "", "", "UserService.save"),
        ("log", "call", 16, "this", "", "", "UserService.save"),
        ("set", "call", 17, "this.users", "", "", "UserService.save"),
        ("Status", "type", 20, "", "", "", "UserService.health"),
        ("UserRecord", "type", 25, "", "", "", "UserService.displayName"),
        ("split", "call", 25, "user.email", "", "", "UserService.displayName"),
        ("UserService", "type", 28, "", "", "", "createUserService"),
        ("UserService", "call", 29, "", "", "", "createUserService"),
    ],
    ("typescript", "src/UserCard.tsx"): [
        ("createUserService", "import", 1, "", "./userService", "", ""),
        ("UserService", "import", 1, "", "./userService", "Service", ""),
        ("User", "import", 2, "", "./types", "", ""),
        ("User", "type", 5, "", "", "", "UserCardProps"),
        ("Service", "type", 6, "", "", "", "UserCardProps"),
        ("UserCardProps", "type", 10, "", "", "", "UserCard"),
        ("createUserService", "call", 11, "", "", "", "UserCard"),
        ("displayName", "call", 14, "svc", "", "", "UserCard"),
        ("health", "call", 15, "svc", "", "", "UserCard"),
        ("User", "type", 20, "", "", "", "UserList"),
        ("map", "call", 22, "users", "", "", "UserList"),
        ("UserCard", "call", 24, "", "", "", "UserList"),  # <UserCard user={u} />
    ],
    ("go", "store/item.go"): [
        ("fmt", "import", 3, "", "fmt", "", ""),
        ("string", "type", 7, "", "", "", "Item"),
        ("int", "type", 8, "", "", "", "Item"),
        ("string", "type", 13, "", "", "", "Reader.Get"),
        ("Item", "type", 13, "", "", "", "Reader.Get"),
        ("bool", "type", 13, "", "", "", "Reader.Get"),
        ("Item", "type", 16, "", "", "", "Item.String"),
        ("string", "type", 16, "", "", "", "Item.String"),
        ("Sprintf", "call", 17, "fmt", "", "", "Item.String"),
    ],
    ("go", "store/store.go"): [
        ("errors", "import", 4, "", "errors", "", ""),
        ("sync", "import", 5, "", "sync", "", ""),
        ("New", "call", 8, "errors", "", "", "ErrEmptySKU"),
        ("Mutex", "type", 12, "sync", "", "", "Store"),
        ("string", "type", 13, "", "", "", "Store"),
        ("Item", "type", 13, "", "", "", "Store"),
        ("Store", "type", 17, "", "", "", "New"),
        ("Store", "call", 18, "", "", "", "New"),  # composite literal
        ("Store", "type", 18, "", "", "", "New"),
        ("make", "call", 18, "", "", "", "New"),
        ("string", "type", 18, "", "", "", "New"),
        ("Item", "type", 18, "", "", "", "New"),
        ("Store", "type", 22, "", "", "", "Store.Add"),  # the receiver
        ("string", "type", 22, "", "", "", "Store.Add"),
        ("int", "type", 22, "", "", "", "Store.Add"),
        ("error", "type", 22, "", "", "", "Store.Add"),
        ("Lock", "call", 26, "s.mu", "", "", "Store.Add"),
        ("Unlock", "call", 27, "s.mu", "", "", "Store.Add"),
        ("Item", "call", 29, "", "", "", "Store.Add"),
        ("Item", "type", 29, "", "", "", "Store.Add"),
        ("Store", "type", 33, "", "", "", "Store.Get"),
        ("string", "type", 33, "", "", "", "Store.Get"),
        ("Item", "type", 33, "", "", "", "Store.Get"),
        ("bool", "type", 33, "", "", "", "Store.Get"),
        ("Lock", "call", 34, "s.mu", "", "", "Store.Get"),
        ("Unlock", "call", 35, "s.mu", "", "", "Store.Get"),
    ],
    ("go", "main.go"): [
        ("fmt", "import", 4, "", "fmt", "", ""),
        ("log", "import", 5, "", "log", "", ""),
        ("example.com/inventory/store", "import", 7, "", "example.com/inventory/store", "inv", ""),
        ("inv.Store", "inherit", 12, "", "", "", "auditedStore"),  # embedding
        ("Store", "type", 12, "inv", "", "", "auditedStore"),
        ("Logger", "type", 13, "log", "", "", "auditedStore"),
        ("auditedStore", "type", 16, "", "", "", "auditedStore.Add"),
        ("string", "type", 16, "", "", "", "auditedStore.Add"),
        ("int", "type", 16, "", "", "", "auditedStore.Add"),
        ("error", "type", 16, "", "", "", "auditedStore.Add"),
        ("Printf", "call", 17, "a.logger", "", "", "auditedStore.Add"),
        ("Add", "call", 18, "a.Store", "", "", "auditedStore.Add"),
        ("Reader", "type", 21, "inv", "", "", "report"),
        ("string", "type", 21, "", "", "", "report"),
        ("string", "type", 21, "", "", "", "report"),
        ("Get", "call", 22, "r", "", "", "report"),
        ("String", "call", 23, "it", "", "", "report"),
        ("Sprintf", "call", 25, "fmt", "", "", "report"),
        ("auditedStore", "call", 29, "", "", "", "main"),
        ("auditedStore", "type", 29, "", "", "", "main"),
        ("New", "call", 29, "inv", "", "", "main"),
        ("Default", "call", 29, "log", "", "", "main"),
        ("Add", "call", 30, "s", "", "", "main"),
        ("Fatal", "call", 31, "log", "", "", "main"),
        ("Println", "call", 33, "fmt", "", "", "main"),
        ("report", "call", 33, "", "", "", "main"),
    ],
    ("rust", "src/shapes.rs"): [
        ("std::f64::consts::PI", "import", 1, "", "", "", ""),
        ("std::fmt", "import", 2, "", "", "", ""),
        ("fmt::Debug", "inherit", 5, "", "", "", "Shape"),  # supertrait
        ("Debug", "type", 5, "fmt", "", "", "Shape"),
        ("String", "type", 8, "", "", "", "Shape.name"),
        ("format", "call", 9, "", "", "", "Shape.name"),
        ("Self", "type", 21, "", "", "", "Circle.new"),
        ("Circle", "call", 22, "", "", "", "Circle.new"),  # struct expression
        ("Circle", "type", 22, "", "", "", "Circle.new"),
        ("Shape", "inherit", 26, "", "", "", "Circle"),
        ("Shape", "type", 26, "", "", "", "Circle"),
    ],
    ("rust", "src/render.rs"): [
        ("crate::shapes::Polygon", "import", 1, "", "", "", ""),
        ("crate::shapes::Shape", "import", 1, "", "", "", ""),
        ("Shape", "inherit", 3, "", "", "", "Polygon"),
        ("Shape", "type", 3, "", "", "", "Polygon"),
        ("Rect", "type", 7, "Polygon", "", "", "Polygon.area"),  # struct pattern
        ("Box", "type", 13, "", "", "", "render"),
        ("Shape", "type", 13, "", "", "", "render"),
        ("String", "type", 13, "", "", "", "render"),
        ("iter", "call", 15, "shapes", "", "", "render"),
        ("map", "call", 16, "shapes\n        .iter()", "", "", "render"),
        ("format", "call", 16, "", "", "", "render"),
        # inside format!(...)'s arguments, which tree-sitter leaves a token tree
        ("name", "call", 16, "s", "", "", "render"),
        ("area", "call", 16, "s", "", "", "render"),
        ("collect", "call", 17,
         'shapes\n        .iter()\n        .map(|s| format!("{}: {:.2}", s.name(), s.area()))', "", "", "render"),
        ("Vec", "type", 17, "", "", "", "render"),  # not the `_` in Vec<_>
        ("join", "call", 18,
         'shapes\n        .iter()\n        .map(|s| format!("{}: {:.2}", s.name(), s.area()))\n'
         "        .collect::<Vec<_>>()", "", "", "render"),
    ],
    ("rust", "src/main.rs"): [
        # `mod m;` declares the module and pulls in its file: a definition and an import
        ("render", "import", 1, "", "", "", "render"),
        ("shapes", "import", 2, "", "", "", "shapes"),
        ("render::render", "import", 4, "", "", "render_all", ""),
        ("shapes::Circle", "import", 5, "", "", "", ""),
        ("shapes::Polygon", "import", 5, "", "", "", ""),
        ("shapes::Shape", "import", 5, "", "", "_", ""),
        ("Box", "type", 9, "", "", "", "total_area"),
        ("Shape", "type", 9, "shapes", "", "", "total_area"),
        ("iter", "call", 10, "shapes", "", "", "total_area"),
        ("map", "call", 10, "shapes.iter()", "", "", "total_area"),
        ("area", "call", 10, "s", "", "", "total_area"),
        ("sum", "call", 10, "shapes.iter().map(|s| s.area())", "", "", "total_area"),
        ("Vec", "type", 14, "", "", "", "main"),
        ("Box", "type", 14, "", "", "", "main"),
        ("Shape", "type", 14, "shapes", "", "", "main"),
        ("new", "call", 14, "Vec", "", "", "main"),
        ("push", "call", 15, "shapes", "", "", "main"),
        ("new", "call", 15, "Box", "", "", "main"),
        ("new", "call", 15, "Circle", "", "", "main"),
        ("push", "call", 16, "shapes", "", "", "main"),
        ("new", "call", 16, "Box", "", "", "main"),
        ("Square", "call", 16, "Polygon", "", "", "main"),
        ("push", "call", 17, "shapes", "", "", "main"),
        ("new", "call", 17, "Box", "", "", "main"),
        ("Rect", "call", 17, "Polygon", "", "", "main"),
        ("Rect", "type", 17, "Polygon", "", "", "main"),
        ("render_all", "call", 18, "", "", "", "main"),
        ("total_area", "call", 19, "", "", "", "main"),
        ("println", "call", 20, "", "", "", "main"),
    ],
    ("java", f"{JAVA_PKG}/InterestBearing.java"): [
        ("java.math.BigDecimal", "import", 3, "", "", "", ""),
        ("BigDecimal", "type", 7, "", "", "", "InterestBearing.rate"),
        ("BigDecimal", "type", 9, "", "", "", "InterestBearing.interestFor"),
        ("rate", "call", 10, "", "", "", "InterestBearing.interestFor"),
        ("multiply", "call", 10, "rate()", "", "", "InterestBearing.interestFor"),
        ("valueOf", "call", 10, "BigDecimal", "", "", "InterestBearing.interestFor"),
        ("divide", "call", 10, "rate().multiply(BigDecimal.valueOf(months))", "", "",
         "InterestBearing.interestFor"),
        ("valueOf", "call", 10, "BigDecimal", "", "", "InterestBearing.interestFor"),
    ],
    ("java", f"{JAVA_PKG}/Account.java"): [
        ("java.math.BigDecimal", "import", 3, "", "", "", ""),
        ("String", "type", 6, "", "", "", "Account.owner"),
        ("BigDecimal", "type", 7, "", "", "", "Account.balance"),
        ("String", "type", 9, "", "", "", "Account.Account"),
        ("BigDecimal", "type", 17, "", "", "", "Account.deposit"),
        ("signum", "call", 18, "amount", "", "", "Account.deposit"),
        ("IllegalArgumentException", "call", 19, "", "", "", "Account.deposit"),
        ("IllegalArgumentException", "type", 19, "", "", "", "Account.deposit"),
        ("add", "call", 21, "balance", "", "", "Account.deposit"),
        ("BigDecimal", "type", 24, "", "", "", "Account.getBalance"),
        ("String", "type", 28, "", "", "", "Account.getOwner"),
    ],
    ("java", f"{JAVA_PKG}/SavingsAccount.java"): [
        ("java.math.BigDecimal", "import", 3, "", "", "", ""),
        ("Account", "inherit", 5, "", "", "", "SavingsAccount"),
        ("Account", "type", 5, "", "", "", "SavingsAccount"),
        ("InterestBearing", "inherit", 5, "", "", "", "SavingsAccount"),
        ("InterestBearing", "type", 5, "", "", "", "SavingsAccount"),
        ("BigDecimal", "type", 6, "", "", "", "SavingsAccount.rate"),
        ("String", "type", 8, "", "", "", "SavingsAccount.SavingsAccount"),
        ("BigDecimal", "type", 8, "", "", "", "SavingsAccount.SavingsAccount"),
        ("BigDecimal", "type", 14, "", "", "", "SavingsAccount.rate"),
        ("deposit", "call", 19, "", "", "", "SavingsAccount.accrue"),
        ("interestFor", "call", 19, "", "", "", "SavingsAccount.accrue"),
        ("multiply", "call", 19, "interestFor(months)", "", "", "SavingsAccount.accrue"),
        ("getBalance", "call", 19, "", "", "", "SavingsAccount.accrue"),
    ],
    ("java", f"{JAVA_PKG}/Bank.java"): [
        ("java.math.BigDecimal", "import", 3, "", "", "", ""),
        ("java.util.ArrayList", "import", 4, "", "", "", ""),
        ("java.util.List", "import", 5, "", "", "", ""),
        ("java.util.Objects.requireNonNull", "import", 6, "", "", "", ""),
        ("List", "type", 9, "", "", "", "Bank.accounts"),
        ("Account", "type", 9, "", "", "", "Bank.accounts"),
        ("ArrayList", "call", 9, "", "", "", "Bank.accounts"),
        ("ArrayList", "type", 9, "", "", "", "Bank.accounts"),
        ("SavingsAccount", "type", 11, "", "", "", "Bank.openSavings"),
        ("String", "type", 11, "", "", "", "Bank.openSavings"),
        ("BigDecimal", "type", 11, "", "", "", "Bank.openSavings"),
        ("SavingsAccount", "type", 12, "", "", "", "Bank.openSavings"),  # the local's type
        ("SavingsAccount", "call", 12, "", "", "", "Bank.openSavings"),
        ("SavingsAccount", "type", 12, "", "", "", "Bank.openSavings"),  # the `new` type
        ("requireNonNull", "call", 12, "", "", "", "Bank.openSavings"),
        ("add", "call", 13, "accounts", "", "", "Bank.openSavings"),
        ("BigDecimal", "type", 17, "", "", "", "Bank.totalDeposits"),
        ("stream", "call", 18, "accounts", "", "", "Bank.totalDeposits"),
        ("map", "call", 19, "accounts.stream()", "", "", "Bank.totalDeposits"),
        ("getBalance", "call", 19, "Account", "", "", "Bank.totalDeposits"),  # Account::getBalance
        ("reduce", "call", 20, "accounts.stream()\n                .map(Account::getBalance)", "", "",
         "Bank.totalDeposits"),
        ("add", "call", 20, "BigDecimal", "", "", "Bank.totalDeposits"),  # BigDecimal::add
    ],
    ("c", "src/list.h"): [
        ("<stddef.h>", "import", 4, "", "<stddef.h>", "", ""),
        ("list_node", "type", 10, "", "", "", "list_node"),
        ("list_node", "type", 14, "", "", "", "list_t"),
        ("list_t", "type", 19, "", "", "", "list_push"),
        ("list_t", "type", 20, "", "", "", "list_sum"),
        ("list_t", "type", 21, "", "", "", "list_free"),
    ],
    ("c", "src/list.c"): [
        ("list.h", "import", 1, "", "list.h", "", ""),
        ("<stdlib.h>", "import", 3, "", "<stdlib.h>", "", ""),
        ("list_node", "type", 5, "", "", "", "node_new"),
        ("list_node", "type", 6, "", "", "", "node_new"),
        ("calloc", "call", 6, "", "", "", "node_new"),
        ("list_t", "type", 13, "", "", "", "list_push"),
        ("list_node", "type", 14, "", "", "", "list_push"),
        ("node_new", "call", 14, "", "", "", "list_push"),
        ("list_node", "type", 18, "", "", "", "list_push"),
        ("list_t", "type", 28, "", "", "", "list_sum"),
        ("list_node", "type", 30, "", "", "", "list_sum"),
        ("list_t", "type", 36, "", "", "", "list_free"),
        ("LIST_EMPTY", "call", 37, "", "", "", "list_free"),
        ("list_node", "type", 38, "", "", "", "list_free"),
        ("free", "call", 39, "", "", "", "list_free"),
    ],
    ("c", "src/main.c"): [
        ("<stdio.h>", "import", 1, "", "<stdio.h>", "", ""),
        ("list.h", "import", 3, "", "list.h", "", ""),
        ("list_t", "type", 6, "", "", "", "main"),
        ("list_push", "call", 8, "", "", "", "main"),
        ("atoi", "call", 8, "", "", "", "main"),
        ("fprintf", "call", 9, "", "", "", "main"),
        ("printf", "call", 13, "", "", "", "main"),
        ("list_sum", "call", 13, "", "", "", "main"),
        ("list_free", "call", 14, "", "", "", "main"),
    ],
    ("cpp", "include/shape.hpp"): [
        ("<memory>", "import", 3, "", "<memory>", "", ""),
        ("<string>", "import", 4, "", "<string>", "", ""),
        ("string", "type", 13, "std", "", "", "geo.Shape.describe"),
        ("Shape", "inherit", 16, "", "", "", "geo.Circle"),
        ("Shape", "type", 16, "", "", "", "geo.Circle"),
        ("Shape", "inherit", 25, "", "", "", "geo.Square"),
        ("Shape", "type", 25, "", "", "", "geo.Square"),
        ("unique_ptr", "type", 31, "std", "", "", "geo.make_shape"),
        ("Shape", "type", 31, "", "", "", "geo.make_shape"),
        ("string", "type", 31, "std", "", "", "geo.make_shape"),
    ],
    ("cpp", "src/shape.cpp"): [
        ("shape.hpp", "import", 1, "", "shape.hpp", "", ""),
        ("<cmath>", "import", 3, "", "<cmath>", "", ""),
        ("<sstream>", "import", 4, "", "<sstream>", "", ""),
        ("pow", "call", 8, "std", "", "", "geo.Circle.area"),
        ("string", "type", 13, "std", "", "", "geo.Shape.describe"),
        ("ostringstream", "type", 14, "std", "", "", "geo.Shape.describe"),
        ("area", "call", 15, "", "", "", "geo.Shape.describe"),
        ("str", "call", 16, "out", "", "", "geo.Shape.describe"),
        ("unique_ptr", "type", 19, "std", "", "", "geo.make_shape"),
        ("Shape", "type", 19, "", "", "", "geo.make_shape"),
        ("string", "type", 19, "std", "", "", "geo.make_shape"),
        ("make_unique", "call", 21, "std", "", "", "geo.make_shape"),
        ("Circle", "type", 21, "", "", "", "geo.make_shape"),
        ("unique_ptr", "call", 23, "std", "", "", "geo.make_shape"),
        ("Shape", "type", 23, "", "", "", "geo.make_shape"),
        ("Square", "call", 23, "", "", "", "geo.make_shape"),
        ("Square", "type", 23, "", "", "", "geo.make_shape"),
    ],
    ("cpp", "src/main.cpp"): [
        ("<iostream>", "import", 1, "", "<iostream>", "", ""),
        ("<vector>", "import", 2, "", "<vector>", "", ""),
        ("shape.hpp", "import", 4, "", "shape.hpp", "", ""),
        ("geo", "import", 6, "", "", "g", ""),  # namespace g = geo;
        ("geo::make_shape", "import", 7, "", "", "", ""),
        # the declaration of T (line 9) is no use of it
        ("vector", "type", 10, "std", "", "", "total_area"),
        ("T", "type", 10, "", "", "", "total_area"),
        ("area", "call", 13, "s", "", "", "total_area"),
        ("vector", "type", 19, "std", "", "", "main"),
        ("unique_ptr", "type", 19, "std", "", "", "main"),
        ("Shape", "type", 19, "g", "", "", "main"),
        ("push_back", "call", 20, "shapes", "", "", "main"),
        ("make_shape", "call", 20, "", "", "", "main"),
        ("push_back", "call", 21, "shapes", "", "", "main"),
        ("make_unique", "call", 21, "std", "", "", "main"),
        ("Square", "type", 21, "g", "", "", "main"),
        ("describe", "call", 23, "s", "", "", "main"),
        ("total_area", "call", 25, "", "", "", "main"),
    ],
}

# qualname -> (doc, signature) for some definitions; None leaves the signature unchecked.
DOCS: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = {
    ("python", "shop/models.py"): {
        "Item": ("A product line in a cart.", None),
        "Cart": ("", None),
        "Cart.add": ("Add an item, merging it with a line of the same SKU.", None),
    },
    ("python", "shop/pricing.py"): {
        "DiscountRule": ("Base class: a rule computes the discount for a cart.", None),
        "apply_discount": ("Total of the cart after the best applicable rule.", None),
    },
    ("javascript", "src/shapes.js"): {
        "Shape": ("Base class for every drawable shape.", "class Shape"),
        "Circle": ("", "class Circle extends Shape"),
        "Circle.area": ("", "area()"),
    },
    ("javascript", "src/util.js"): {
        "sumAreas": ("Sum of the areas of a list of shapes.", "function sumAreas(shapes)"),
        "report": ("", "function report(shapes)"),
    },
    ("typescript", "src/types.ts"): {
        "Entity": ("A record that can be stored in a repository.", "interface Entity"),
        "BaseService": ("Services share logging and a name.", "abstract class BaseService"),
        "Repository": ("", "interface Repository<T extends Entity>"),
        "Repository.get": ("", "get(id: string): Promise<T | undefined>"),
    },
    ("typescript", "src/userService.ts"): {
        "UserService.displayName": ("Display name: the user's name, or their e-mail before the @.", None),
        "UserService.get": ("", "async get(id: UserId): Promise<UserRecord | undefined>"),
    },
    ("typescript", "src/UserCard.tsx"): {
        "UserCard": ("A card that shows one user.", "function UserCard({ user, service }: UserCardProps)"),
    },
    ("go", "store/store.go"): {
        "Store": ("Store is an in-memory, concurrency-safe inventory.", "Store struct"),
        "New": ("New returns an empty Store.", "func New() *Store"),
        "Store.Add": ("Add records quantity more units of sku.",
                      "func (s *Store) Add(sku string, quantity int) error"),
        "Store.Get": ("", "func (s *Store) Get(sku string) (Item, bool)"),
    },
    ("go", "main.go"): {
        "auditedStore": ("auditedStore logs every addition before delegating to the embedded Store.", None),
    },
    ("rust", "src/shapes.rs"): {
        "Shape": ("Anything with an area that can be drawn.", "pub trait Shape: fmt::Debug"),
        "Circle": ("A circle centred on the origin.", "pub struct Circle"),  # doc above #[derive]
        "Circle.new": ("A circle of the given radius.", "pub fn new(radius: f64) -> Self"),
    },
    ("rust", "src/render.rs"): {
        "render": ("One line per shape, with its area to two decimals.",
                   "pub fn render(shapes: &[Box<dyn Shape>]) -> String"),
    },
    ("java", f"{JAVA_PKG}/InterestBearing.java"): {
        "InterestBearing": ("Something that earns interest over time.", "public interface InterestBearing"),
    },
    ("java", f"{JAVA_PKG}/Account.java"): {
        "Account.deposit": ("Adds money to the account.\n@param amount a positive amount",
                            "public void deposit(BigDecimal amount)"),
        "Account.Account": ("", "public Account(String owner)"),
    },
    ("c", "src/list.h"): {
        "list_push": ("Appends value at the end of the list; returns 0 on success.", None),
    },
    ("c", "src/list.c"): {
        "list_sum": ("Sum of all values; 0 for an empty list.", "int list_sum(const list_t *list)"),
        "node_new": ("", "static struct list_node *node_new(int value)"),
    },
    ("cpp", "include/shape.hpp"): {
        "geo.Shape": ("Base class of every shape; knows its area.", "class Shape"),
        "geo.Circle": ("", "class Circle : public Shape"),
    },
    ("cpp", "src/shape.cpp"): {
        "geo.make_shape": ("", "std::unique_ptr<Shape> make_shape(const std::string& kind, double size)"),
    },
}


# -- known bugs in indexer/*.py ----------------------------------------------------------------


@dataclass(frozen=True)
class KnownBug:
    id: str
    repo: str
    path: str
    table: str  # "symbols" or "references"
    expected: tuple[tuple, ...]  # the correct rows for `keys`
    reason: str
    extra_keys: tuple[tuple, ...] = ()  # keys of rows that should not be there at all

    @property
    def keys(self) -> set[tuple]:
        key = symbol_key if self.table == "symbols" else reference_key
        return {key(r) for r in self.expected} | set(self.extra_keys)


KNOWN_BUGS: tuple[KnownBug, ...] = ()


def _ignored(repo: str, path: str, table: str) -> set[tuple]:
    out: set[tuple] = set()
    for bug in KNOWN_BUGS:
        if (bug.repo, bug.path, bug.table) == (repo, path, table):
            out |= bug.keys
    return out


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("repo", REPOS)
def test_indexed_files(open_store, repo):
    store = open_store(repo)
    rows = store.conn.execute(
        "SELECT path, language, skip_reason, parse_errors FROM files ORDER BY path").fetchall()
    assert {p: lang for p, lang, _, _ in rows} == FILES[repo]
    assert [(p, skip, errors) for p, _, skip, errors in rows if skip or errors] == []


def _file_params(table: dict) -> list:
    return [pytest.param(repo, path, id=f"{repo}:{path.rsplit('/', 1)[-1]}") for repo, path in table]


def test_tables_cover_every_parsed_file():
    parsed = {(repo, path) for repo, files in FILES.items() for path, lang in files.items() if lang != "text"}
    assert set(SYMBOLS) == parsed
    assert set(REFERENCES) == parsed


@pytest.mark.parametrize(("repo", "path"), _file_params(SYMBOLS))
def test_symbols(open_store, repo, path):
    assert_symbols(open_store(repo), path, SYMBOLS[repo, path], _ignored(repo, path, "symbols"))


@pytest.mark.parametrize(("repo", "path"), _file_params(REFERENCES))
def test_references(open_store, repo, path):
    assert_references(open_store(repo), path, REFERENCES[repo, path], _ignored(repo, path, "references"))


@pytest.mark.parametrize(("repo", "path"), _file_params(DOCS))
def test_docs_and_signatures(open_store, repo, path):
    by_qualname = {}
    for s in open_store(repo).symbols_in(path):
        by_qualname.setdefault(s.qualname, s)
    for qualname, (doc, signature) in DOCS[repo, path].items():
        s = by_qualname[qualname]
        assert s.doc == doc, qualname
        if signature is not None:
            assert s.signature == signature, qualname


def test_symbol_parents(open_store):
    """parent is the enclosing definition, not the qualifier: a Go method is at file level."""
    store = open_store("go")
    assert {s.qualname: s.parent for s in store.symbols_in("store/item.go")} == {
        "store": "", "Item": "", "Reader": "", "Reader.Get": "Reader", "Item.String": "",
    }
    store = open_store("cpp")
    assert {s.qualname: s.parent for s in store.symbols_in("include/shape.hpp")
            if s.qualname.startswith("geo.Circle")} == {
        "geo.Circle": "geo", "geo.Circle.Circle": "geo.Circle", "geo.Circle.area": "geo.Circle",
    }


@pytest.mark.parametrize("repo", REPOS)
def test_chunks_cover_each_line_once(indexed, open_store, repo):
    root = indexed(repo)
    store = open_store(repo)
    for path in FILES[repo]:
        lines = (root / path).read_text(encoding="utf-8").splitlines()
        covered: dict[int, int] = {}
        for chunk in store.chunks_in(path):
            assert chunk.text == "\n".join(lines[chunk.start_line - 1:chunk.end_line]), (path, chunk.start_line)
            for line in range(chunk.start_line, chunk.end_line + 1):
                covered[line] = covered.get(line, 0) + 1
        non_blank = {i for i, text in enumerate(lines, 1) if text.strip()}
        assert {line for line, n in covered.items() if n > 1} == set(), path
        assert non_blank - covered.keys() == set(), path


def test_chunks_follow_definitions(open_store):
    """A definition small enough is one chunk, starting at its doc comment."""
    chunks = {(c.start_line, c.end_line): (c.symbol, c.kind)
              for c in open_store("rust").chunks_in("src/shapes.rs")}
    assert chunks[(4, 11)] == ("Shape", "trait")
    assert chunks[(13, 17)] == ("Circle", "struct")  # doc and #[derive] included
    chunks = {(c.start_line, c.end_line): (c.symbol, c.kind)
              for c in open_store("typescript").chunks_in("src/types.ts")}
    assert chunks[(23, 32)] == ("BaseService", "class")  # the // comment above `export`


@pytest.mark.parametrize("bug", [pytest.param(b, id=b.id, marks=pytest.mark.xfail(strict=True, reason=b.reason))
                                 for b in KNOWN_BUGS])
def test_known_bug(open_store, bug):
    rows = symbol_rows if bug.table == "symbols" else reference_rows
    key = symbol_key if bug.table == "symbols" else reference_key
    actual = [r for r in rows(open_store(bug.repo), bug.path) if key(r) in bug.keys]
    assert _sorted(actual) == _sorted(list(bug.expected))


def test_rust_doc_above_attributes(open_store):
    """Attributes belong to the item (like decorators), so the doc above them is its doc."""
    polygon = next(s for s in open_store("rust").symbols_in("src/shapes.rs") if s.qualname == "Polygon")
    assert polygon.doc == "Shapes with straight sides."


def test_python_signature_has_no_colon(open_store):
    sigs = {s.qualname: s.signature for s in open_store("python").symbols_in("shop/pricing.py")}
    assert sigs["apply_discount"] == "def apply_discount(cart: Cart, rules: list[DiscountRule]) -> float"
    assert sigs["PercentOff"] == "class PercentOff(DiscountRule)"


def test_the_tag_queries_are_read_once_per_process_and_digested_once_per_language_set(monkeypatch):
    """Every call the server answers checks its index's options against the queries' digest:
    the files are read once, as they are compiled once, and the digest stays what it was."""
    from indexer import languages

    langs = tuple(sorted(languages.LANGUAGES))
    want = languages.queries_digest(langs)
    languages.query_source.cache_clear()
    languages.queries_digest.cache_clear()
    reads = []
    read_text = Path.read_text

    def counted(self, *args, **kwargs):
        reads.append(self.name)
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    assert languages.queries_digest(langs) == want
    files = sum(len(languages.LANGUAGES[n].queries) for n in langs)
    assert len(reads) == files
    assert languages.queries_digest(langs) == want and languages.queries_digest(langs[:2]) != want
    assert len(reads) == files  # nothing read again, for this set of languages or a smaller one
