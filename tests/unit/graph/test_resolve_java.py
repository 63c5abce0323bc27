"""Java resolution: the bank fixture, checked edge by edge, and one case per rule."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, graph_edges, index, write_tree

R, I, N = "resolved", "inferred", "name"
BANK = "src/main/java/com/example/bank"


def test_fixture_bank_edges_exactly(tmp_path):
    root = tmp_path / "java"
    shutil.copytree(FIXTURES / "java", root)
    index(root)
    a, b, s, ib = (f"{BANK}/{n}.java" for n in ("Account", "Bank", "SavingsAccount", "InterestBearing"))
    # Every import is of java.* (outside the repository); String, IllegalArgumentException
    # are java.lang; BigDecimal.valueOf, balance.add, accounts.stream() name no method
    # defined here. No edge is a guess.
    assert graph_edges(root) == {
        (f"{s}::SavingsAccount", "inherits", f"{a}::Account", R),  # same package, no import
        (f"{s}::SavingsAccount", "references", f"{a}::Account", R),
        (f"{s}::SavingsAccount", "inherits", f"{ib}::InterestBearing", R),
        (f"{s}::SavingsAccount", "references", f"{ib}::InterestBearing", R),
        # unqualified calls: the class, then its supertypes (across files)
        (f"{s}::SavingsAccount.accrue", "calls", f"{a}::Account.deposit", R),
        (f"{s}::SavingsAccount.accrue", "calls", f"{a}::Account.getBalance", R),
        (f"{s}::SavingsAccount.accrue", "calls", f"{ib}::InterestBearing.interestFor", R),  # a default method
        (f"{ib}::InterestBearing.interestFor", "calls", f"{ib}::InterestBearing.rate", R),
        (f"{b}::Bank.accounts", "references", f"{a}::Account", R),  # List<Account>
        (f"{b}::Bank.openSavings", "references", f"{s}::SavingsAccount", R),
        (f"{b}::Bank.openSavings", "calls", f"{s}::SavingsAccount", R),  # new SavingsAccount(...)
        (f"{b}::Bank.totalDeposits", "calls", f"{a}::Account.getBalance", R),  # Account::getBalance
    }


MODEL = "src/main/java/com/acme/model"
RULES = {
    f"{MODEL}/Shape.java": (
        "package com.acme.model;\n\n"
        "public abstract class Shape {\n"
        "    public abstract double area();\n"
        "    public String describe() { return name() + area(); }\n"
        "    protected String name() { return \"shape\"; }\n"
        "    public static Shape unit() { return new Circle(); }\n"
        "    public static class Builder {\n"
        "        Builder self() { return this; }\n"
        "        Shape build() { return unit(); }\n"
        "    }\n"
        "}\n"
    ),
    f"{MODEL}/Circle.java": (
        "package com.acme.model;\n\n"
        "public class Circle extends Shape implements Named {\n"
        "    public double area() { return Geometry.pi(); }\n"
        "    protected String name() { return super.name() + this.label(); }\n"
        "    public String toString() { return describe() + size(); }\n"
        "}\n\n"
        "class Geometry {\n"
        "    static double pi() { return Math.PI; }\n"
        "}\n"
    ),
    f"{MODEL}/Named.java": (
        "package com.acme.model;\n\n"
        "interface Named {\n"
        "    default String label() { return \"n\"; }\n"
        "}\n"
    ),
    "src/main/java/com/acme/util/MathUtil.java": (
        "package com.acme.util;\n\n"
        "public final class MathUtil {\n"
        "    public static int square(int x) { return x * x; }\n"
        "    public static int cube(int x) { return x * square(x); }\n"
        "}\n"
    ),
    "src/main/java/com/acme/coll/List.java": (
        "package com.acme.coll;\n\n"
        "public class List {\n"
        "    public int size() { return 0; }\n"
        "}\n"
    ),
    "src/main/java/com/acme/app/App.java": (
        "package com.acme.app;\n\n"
        "import com.acme.model.Circle;\n"
        "import com.acme.model.*;\n"
        "import static com.acme.util.MathUtil.square;\n"
        "import static com.acme.util.MathUtil.*;\n"
        "import java.util.List;\n"
        "import java.util.Objects;\n\n"
        "public class App {\n"
        "    void main(List<String> args) {\n"
        "        Circle c = new Circle();\n"
        "        Shape s = Shape.unit();\n"
        "        Shape.Builder b = new Shape.Builder();\n"
        "        int n = square(2) + cube(3) + args.size();\n"
        "        c.describe();\n"
        "        Objects.requireNonNull(s);\n"
        "        String.valueOf(n);\n"
        "    }\n"
        "}\n"
    ),
    "src/test/java/com/acme/model/CircleTest.java": (
        "package com.acme.model;\n\n"
        "class CircleTest {\n"
        "    void area() { new Circle().area(); Geometry.pi(); }\n"
        "}\n"
    ),
    "moduleA/src/main/java/com/dup/Thing.java": "package com.dup;\n\npublic class Thing {}\n",
    "moduleA/src/main/java/com/dup/User.java": "package com.dup;\n\nclass User { Thing t; }\n",
    "moduleB/src/main/java/com/dup/Thing.java": "package com.dup;\n\npublic class Thing {}\n",
}


def test_java_rules(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    edges = graph_edges(tmp_path)
    app, shape, circle = "src/main/java/com/acme/app/App.java", f"{MODEL}/Shape.java", f"{MODEL}/Circle.java"
    named, mu = f"{MODEL}/Named.java", "src/main/java/com/acme/util/MathUtil.java"
    test = "src/test/java/com/acme/model/CircleTest.java"
    want = {
        # single-type import -> the class; on-demand -> the package; static -> the member
        (app, "imports", f"{circle}::Circle", R),
        (app, "imports", f"{MODEL}/", R),
        (app, "imports", f"{mu}::MathUtil.square", R),
        (app, "imports", f"{mu}::MathUtil", R),  # import static ...MathUtil.*
        # simple names: the single-type import, then the on-demand import
        (f"{app}::App.main", "references", f"{circle}::Circle", R),
        (f"{app}::App.main", "calls", f"{circle}::Circle", R),
        (f"{app}::App.main", "references", f"{shape}::Shape", R),
        (f"{app}::App.main", "calls", f"{shape}::Shape.unit", R),  # a static call Type.m()
        (f"{app}::App.main", "calls", f"{shape}::Shape.Builder", R),  # new Shape.Builder()
        # static imports: single, then on-demand
        (f"{app}::App.main", "calls", f"{mu}::MathUtil.square", R),
        (f"{app}::App.main", "calls", f"{mu}::MathUtil.cube", R),
        # obj.m() on a variable: by name among methods
        (f"{app}::App.main", "calls", f"{shape}::Shape.describe", N),
        (f"{app}::App.main", "calls", "src/main/java/com/acme/coll/List.java::List.size", N),
        # the same package, in the same file and in another file
        (f"{shape}::Shape.unit", "calls", f"{circle}::Circle", R),
        (f"{shape}::Shape.unit", "references", f"{circle}::Circle", R),
        (f"{shape}::Shape.unit", "references", f"{shape}::Shape", R),
        (f"{shape}::Shape.Builder.self", "references", f"{shape}::Shape.Builder", R),
        (f"{shape}::Shape.Builder.build", "references", f"{shape}::Shape", R),
        (f"{shape}::Shape.Builder.build", "calls", f"{shape}::Shape.unit", R),  # the outer class
        (f"{shape}::Shape.describe", "calls", f"{shape}::Shape.name", R),
        (f"{shape}::Shape.describe", "calls", f"{shape}::Shape.area", R),
        (f"{circle}::Circle", "inherits", f"{shape}::Shape", R),
        (f"{circle}::Circle", "references", f"{shape}::Shape", R),
        (f"{circle}::Circle", "inherits", f"{named}::Named", R),
        (f"{circle}::Circle", "references", f"{named}::Named", R),
        (f"{circle}::Circle.area", "calls", f"{circle}::Geometry.pi", R),
        (f"{circle}::Circle.name", "calls", f"{shape}::Shape.name", R),  # super.name()
        (f"{circle}::Circle.name", "calls", f"{named}::Named.label", R),  # this.label(): a default
        (f"{circle}::Circle.toString", "calls", f"{shape}::Shape.describe", R),
        # src/test shares the package with src/main
        (f"{test}::CircleTest.area", "calls", f"{circle}::Circle", R),
        (f"{test}::CircleTest.area", "references", f"{circle}::Circle", R),
        (f"{test}::CircleTest.area", "calls", f"{circle}::Circle.area", R),
        (f"{test}::CircleTest.area", "calls", f"{circle}::Geometry.pi", R),
        (f"{test}::CircleTest.area", "tests", f"{circle}::Circle", R),
        (f"{test}::CircleTest.area", "tests", f"{circle}::Circle.area", R),
        (f"{test}::CircleTest.area", "tests", f"{circle}::Geometry.pi", R),
        (f"{mu}::MathUtil.cube", "calls", f"{mu}::MathUtil.square", R),
        # two classes com.dup.Thing: the one in the same module
        ("moduleA/src/main/java/com/dup/User.java::User.t", "references",
         "moduleA/src/main/java/com/dup/Thing.java::Thing", R),
    }
    assert edges == want
    # Not linked: List<String> is java.util.List (imported), not com.acme.coll.List;
    # Objects.requireNonNull, String.valueOf (java.lang), Math.PI; size() in
    # Circle.toString is no member of Circle or its supertypes (nothing guessed).
    assert not any(e[0].startswith(app) and e[2].endswith("List") for e in edges)
    assert not any(e[0] == f"{circle}::Circle.toString" and e[2].endswith("size") for e in edges)


def test_anonymous_class_and_external_supertypes(tmp_path):
    write_tree(tmp_path, {
        "src/p/Outer.java": (
            "package p;\n\nimport java.util.ArrayList;\n\n"
            "public class Outer {\n"
            "    void helper() {}\n"
            "    void run() {\n"
            "        Runnable r = new Runnable() {\n"
            "            public void run() { helper(); this.toString(); }\n"
            "        };\n"
            "    }\n"
            "    class Inner extends ArrayList<String> {\n"
            "        void go() { helper(); }\n"
            "    }\n"
            "    class Cmp implements Comparable<Cmp> {\n"
            "        public int compareTo(Cmp o) { helper(); return 0; }\n"
            "    }\n"
            "}\n\n"
            "class Worker extends Thread {\n"
            "    void work() { start(); }\n"
            "}\n"
        ),
    })
    index(tmp_path)
    o = "src/p/Outer.java"
    # Inside an anonymous class, or a class with a supertype from outside, an outer
    # class's method is what m() most likely means, not what Java guarantees. start() in
    # Worker is Thread's: nothing here to link; this.toString() is the anonymous class's.
    assert graph_edges(tmp_path) == {
        (f"{o}::Outer.run.run", "calls", f"{o}::Outer.helper", I),
        (f"{o}::Outer.Inner.go", "calls", f"{o}::Outer.helper", I),
        # Comparable is known to declare compareTo alone: the outer class's helper it is
        (f"{o}::Outer.Cmp.compareTo", "calls", f"{o}::Outer.helper", R),
        (f"{o}::Outer.Cmp.compareTo", "references", f"{o}::Outer.Cmp", R),
    }


def test_default_package_and_test_code_visibility(tmp_path):
    write_tree(tmp_path, {
        "Main.java": "class Main {\n    void m() { new Helper().go(); }\n}\n",
        "Helper.java": "class Helper {\n    void go() {}\n}\n",
        "src/main/java/q/Prod.java": "package q;\n\nclass Prod { Fixture f; }\n",
        "src/test/java/q/Fixture.java": "package q;\n\nclass Fixture {}\n",
        "src/test/java/q/ProdTest.java": "package q;\n\nclass ProdTest { Prod p; Fixture f; }\n",
    })
    index(tmp_path)
    t = "src/test/java/q"
    # Files without a package declaration share the default package. Main code does not
    # see test code of its package (Prod's Fixture is not linked); test code sees both.
    assert graph_edges(tmp_path) == {
        ("Main.java::Main.m", "calls", "Helper.java::Helper", R),
        ("Main.java::Main.m", "references", "Helper.java::Helper", R),
        ("Main.java::Main.m", "calls", "Helper.java::Helper.go", R),  # new Helper().go()
        (f"{t}/ProdTest.java::ProdTest.p", "references", "src/main/java/q/Prod.java::Prod", R),
        (f"{t}/ProdTest.java::ProdTest.f", "references", f"{t}/Fixture.java::Fixture", R),
    }
