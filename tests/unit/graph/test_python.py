"""Python resolution: the fixture shop, checked edge by edge, and one case per rule."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, graph_edges, index, write_tree
from fixtures.graph_python import RULES

R, N = "resolved", "name"


def test_fixture_shop_edges_exactly(tmp_path):
    root = tmp_path / "python"
    shutil.copytree(FIXTURES / "python", root)
    index(root)
    m, p, c, i = "shop/models.py", "shop/pricing.py", "shop/checkout.py", "shop/__init__.py"
    resolved = {e for e in graph_edges(root) if e[3] == R}
    assert resolved == {
        (i, "imports", f"{c}::quick_checkout", R),
        (c, "imports", p, R),  # from shop import pricing as pr: a submodule
        (c, "imports", f"{m}::Cart", R),
        (c, "imports", f"{m}::Item", R),
        (c, "imports", f"{p}::PercentOff", R),
        (f"{c}::Checkout", "inherits", f"{m}::Cart", R),  # through the alias ShoppingCart
        (f"{c}::Checkout.__init__", "calls", f"{p}::PercentOff", R),
        (f"{c}::Checkout.pay", "calls", f"{p}::apply_discount", R),  # pr.apply_discount
        (f"{c}::quick_checkout", "calls", f"{c}::Checkout", R),
        (f"{c}::quick_checkout", "calls", f"{m}::Item", R),
        (f"{m}::Cart.items", "references", f"{m}::Item", R),
        (f"{m}::Cart.add", "references", f"{m}::Item", R),
        (p, "imports", f"{m}::Cart", R),
        (f"{p}::DiscountRule.discount", "references", f"{m}::Cart", R),
        (f"{p}::PercentOff", "inherits", f"{p}::DiscountRule", R),
        (f"{p}::PercentOff.discount", "references", f"{m}::Cart", R),
        (f"{p}::apply_discount", "references", f"{m}::Cart", R),
        (f"{p}::apply_discount", "references", f"{p}::DiscountRule", R),
    }
    guessed = {e for e in graph_edges(root) if e[3] != R}
    # checkout.add(...) on a local variable: its type is unknown, so every method named
    # add is a candidate, and the edge says so.
    assert (f"{c}::quick_checkout", "calls", f"{m}::Cart.add", N) in guessed
    assert all(e[3] == N for e in guessed)
    # super().__init__() reaches Cart, a dataclass without an __init__ of its own: no guess.
    assert not any(e[0] == f"{c}::Checkout.__init__" and e[2].endswith("__init__") for e in guessed)


def test_python_rules(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    edges = graph_edges(tmp_path)
    eng, util, plug = "app/core/engine.py", "app/util.py", "app/core/plugins.py"
    want = {
        # relative imports, aliases, a package re-export, a star import in __init__
        ("app/__init__.py", "imports", f"{eng}::Engine", R),
        (eng, "imports", f"{util}::helper", R),
        (eng, "imports", f"{util}::Base", R),
        (eng, "imports", plug, R),
        ("main.py", "imports", eng, R),
        ("main.py", "imports", f"{eng}::Engine", R),  # re-exported by app/__init__.py
        ("main.py", "imports", f"{util}::helper", R),  # through `from .util import *`
        ("main.py", "imports", plug, R),
        # base class across files; super(), self., cls. and a nested function
        (f"{eng}::Engine", "inherits", f"{util}::Base", R),
        (f"{eng}::Engine.__init__", "calls", f"{util}::Base.__init__", R),
        (f"{eng}::Engine.__init__", "calls", f"{eng}::Engine.start", R),
        (f"{eng}::Engine.start", "calls", f"{util}::helper", R),
        (f"{eng}::Engine.start", "calls", f"{plug}::load", R),
        (f"{eng}::Engine.start", "calls", f"{util}::Base.shared", R),  # self.m() found in the base
        (f"{eng}::Engine.make", "calls", f"{eng}::Engine.build", R),
        (f"{eng}::Engine.build", "calls", f"{eng}::Engine.build.inner", R),
        # dotted module paths and aliases
        ("main.py::run", "calls", f"{eng}::Engine", R),
        ("main.py::run", "calls", f"{util}::helper", R),
        ("main.py::run", "calls", f"{plug}::load", R),
        ("main.py::run", "calls", f"{eng}::Engine.make", R),
        # test code: its calls into the code under test are also `tests` edges
        ("tests/test_engine.py", "imports", f"{eng}::Engine", R),
        ("tests/test_engine.py::test_start", "calls", f"{eng}::Engine", R),
        ("tests/test_engine.py::test_start", "tests", f"{eng}::Engine", R),
    }
    assert want <= edges, sorted(want - edges)
    # Nothing links os.path.join, OrderedDict or len: they live outside the repository.
    targets = {e[2] for e in edges if e[0].startswith(f"{eng}::Engine.__init__")}
    assert targets == {f"{util}::Base.__init__", f"{eng}::Engine.start"}
    # self.missing_everywhere(): no definition anywhere, so no edge at all.
    assert not any("missing" in e[2] for e in edges)
    # Engine().start() in the test: the receiver is a call's value, so only a guess by name.
    assert ("tests/test_engine.py::test_start", "calls", f"{eng}::Engine.start", N) in edges


def test_a_namespace_directory_is_imported_from_where_it_would_be_on_the_path(tmp_path):
    """A module in directories without __init__.py answers to its name from the root, and to
    a name from a directory between only for files that would have that directory on their
    path: integrations/requests/adapters.py does not take `from requests import adapters`,
    `import requests.adapters` or `from requests.adapters import HTTPAdapter` written in
    client.py at the root (the installed package's). Those that do reach such a name: a
    test beside its helpers (pytest puts the test's directory on the path), a test under a
    conftest.py beside them, any file for a namespace package under src/, a namespace app
    run from the directory above it, and the same under a directory no import can name
    (my-svc/). A module named like the first part elsewhere (scripts/helpers.py) does not
    take `helpers.factory`. A module or package named like the standard library's below the
    root (tools/code.py, vendor/json/) takes its name only for a script beside it."""
    write_tree(tmp_path, {
        "integrations/requests/adapters.py": "class HTTPAdapter:\n    pass\n\n\ndef mount(x):\n    return x\n",
        "client.py": ("from requests import adapters\nimport requests.adapters\nfrom requests.adapters import HTTPAdapter\n"
                      "import code\nimport json\n\n\n"
                      "def send(x):\n    return adapters.mount(x), requests.adapters.mount(x), HTTPAdapter(), "
                      "code.interact(x), json.dumps(x)\n"),
        "tools/code.py": "def interact(x):\n    return x\n",
        "tools/run.py": "import code\n\n\ndef main(x):\n    return code.interact(x)\n",
        "vendor/json/__init__.py": "def dumps(x):\n    return x\n",
        "tests/helpers/factory.py": "def make():\n    return 1\n",
        "tests/test_thing.py": ("from helpers.factory import make\nimport helpers.factory\n\n\n"
                                "def test_it():\n    return make(), helpers.factory.make()\n"),
        "scripts/helpers.py": "def other():\n    return 2\n",
        "tests/conftest.py": "",
        "tests/unit/test_deep.py": "from helpers.factory import make\n\n\ndef test_deep():\n    return make()\n",
        "src/shapes/circle.py": "def area(r):\n    return r * r\n",
        "tests/test_shapes.py": ("from shapes.circle import area\nfrom shapes import circle\n\n\n"
                                 "def test_area():\n    return area(1), circle.area(2)\n"),
        "backend/app/models.py": "def load():\n    return 3\n",
        "backend/app/views.py": "from app.models import load\n\n\ndef show():\n    return load()\n",
        "my-svc/tests/helpers/factory.py": "def make():\n    return 4\n",
        "my-svc/tests/test_svc.py": "from helpers.factory import make\n\n\ndef test_svc():\n    return make()\n",
    })
    index(tmp_path)
    edges = graph_edges(tmp_path)
    assert not [e for e in edges if e[0].startswith("client.py") and e[1] in ("imports", "calls")], \
        sorted(e for e in edges if e[0].startswith("client.py"))
    want = {
        ("tests/test_thing.py", "imports", "tests/helpers/factory.py::make", R),
        ("tests/test_thing.py", "imports", "tests/helpers/factory.py", R),
        ("tests/test_thing.py::test_it", "calls", "tests/helpers/factory.py::make", R),
        ("tests/unit/test_deep.py::test_deep", "calls", "tests/helpers/factory.py::make", R),
        ("tests/test_shapes.py", "imports", "src/shapes/circle.py::area", R),
        ("tests/test_shapes.py", "imports", "src/shapes/circle.py", R),
        ("tests/test_shapes.py::test_area", "calls", "src/shapes/circle.py::area", R),
        ("backend/app/views.py::show", "calls", "backend/app/models.py::load", R),
        ("my-svc/tests/test_svc.py::test_svc", "calls", "my-svc/tests/helpers/factory.py::make", R),
        ("tools/run.py::main", "calls", "tools/code.py::interact", R),
    }
    assert want <= edges, sorted(want - edges)
    assert not [e for e in edges if e[2].startswith(("scripts/", "vendor/")) and e[3] == R]


def test_package_nodes_contain_files(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    contains = graph_edges(tmp_path, kinds=("contains",))
    assert ("app/", "contains", "app/core/", R) in contains
    assert ("app/core/", "contains", "app/core/engine.py", R) in contains
    assert ("app/core/engine.py", "contains", "app/core/engine.py::Engine", R) in contains
    assert ("app/core/engine.py::Engine", "contains", "app/core/engine.py::Engine.start", R) in contains


def test_namespace_packages_without_init(tmp_path):
    """A directory without __init__.py is a namespace package (PEP 420): `from pkg.shapes
    import f` and `import pkg.geo.area` find their files; a call of the imported name
    resolves, and so does a call through the dotted path (`pkg.geo.area.area()`, walked
    through the namespaces `pkg` and `pkg.geo`, which have no file) or through a namespace
    imported by name (`from pkg import geo`); a module named like the standard library's
    inside a package (app/json.py), or a directory so named (tests/json/), does not take
    `import json`; a directory named like an installed package (bench/numpy/) does not take
    `numpy`'s attributes; a relative import inside a namespace package is read from the
    root (`from .. import shapes` in pkg/geo/ is pkg.shapes)."""
    write_tree(tmp_path, {
        "pkg/shapes.py": "def parse_radius(text):\n    return float(text)\n",
        "pkg/geo/area.py": "from pkg.shapes import parse_radius\n\n\ndef area(text):\n    return parse_radius(text) ** 2\n",
        "main.py": ("import pkg.geo.area\nimport json\nfrom pkg import geo\nimport app.geo.area2\n\n\n"
                    "def run(text):\n    return pkg.geo.area.area(text), json.dumps(text)\n\n\n"
                    "def run2(text):\n    return geo.area.area(text), pkg.geo.missing(text), pkg.nowhere.f(text)\n\n\n"
                    "def run3(text):\n    return app.geo.area2.area2(text)\n"),
        "app/__init__.py": "",
        "app/json.py": "def dumps(x):\n    return x\n",
        "app/geo/area2.py": "def area2(x):\n    return x\n",  # a namespace inside a regular package
        "bench/numpy/linalg.py": "def norm(x):\n    return x\n",  # not the installed numpy's namespace
        # relative imports inside a namespace package, beside a top-level module of the same name
        "pkg/geo/rel.py": "from .. import shapes\nfrom . import area\n\n\ndef sq(x):\n    return shapes.parse_radius(x), area.area(x)\n",
        "area.py": "def area(x):\n    return 0\n",
        # directories named like the standard library's, without __init__.py
        "tests/json/test_codec.py": "def dumps(x):\n    return x\n",
        "tests/http/client.py": "def request():\n    return 1\n",
        "tools/logging/setup.py": "def getLogger(name):\n    return name\n",
        "cli.py": ("import json\nimport logging\nimport http.client\nimport numpy as np\n\n\n"
                   "def log(x):\n    return logging.getLogger(x), json.dumps(x), http.client.HTTPConnection(x), "
                   "np.linalg.norm(x)\n"),
        # a star import of a namespace package brings none of its subpackages
        "star.py": "from pkg import *\nfrom stars_lib import *\n\n\ndef go(t):\n    return geo.area(t)\n",
        "stars_lib.py": "class geo:\n    @staticmethod\n    def area(x):\n        return x\n",
    })
    index(tmp_path)
    edges = graph_edges(tmp_path)
    want = {
        ("pkg/geo/area.py", "imports", "pkg/shapes.py::parse_radius", R),
        ("pkg/geo/area.py::area", "calls", "pkg/shapes.py::parse_radius", R),
        ("main.py", "imports", "pkg/geo/area.py", R),
        ("main.py::run", "calls", "pkg/geo/area.py::area", R),
        ("main.py::run2", "calls", "pkg/geo/area.py::area", R),
        ("main.py::run3", "calls", "app/geo/area2.py::area2", R),
        ("star.py::go", "calls", "stars_lib.py::geo.area", R),
        ("pkg/geo/rel.py::sq", "calls", "pkg/shapes.py::parse_radius", R),
        ("pkg/geo/rel.py::sq", "calls", "pkg/geo/area.py::area", R),
    }
    assert want <= edges, sorted(want - edges)
    # a namespace's missing module or a name under none: no edge, and no guess by name
    assert {e for e in edges if e[0] == "main.py::run2"} == {("main.py::run2", "calls", "pkg/geo/area.py::area", R)}
    assert not any(e[2] == "app/json.py::dumps" and e[3] == R for e in edges)  # json is the stdlib's
    # the standard library's modules stay external: no edge at all, not even a guess by name
    assert not [e for e in edges if e[0].startswith("cli.py") and e[1] in ("imports", "calls")], \
        sorted(e for e in edges if e[0].startswith("cli.py"))
