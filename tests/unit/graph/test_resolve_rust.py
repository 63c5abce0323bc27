"""Rust resolution: the fixture crate, checked edge by edge, and one case per rule."""

from __future__ import annotations

import shutil

from conftest import FIXTURES, graph_edges, index, write_tree

R, N = "resolved", "name"


def test_fixture_shapes_edges_exactly(tmp_path):
    root = tmp_path / "rust"
    shutil.copytree(FIXTURES / "rust", root)
    index(root)
    edges = graph_edges(root)
    m, r, s = "src/main.rs", "src/render.rs", "src/shapes.rs"
    assert {e for e in edges if e[3] == R} == {
        # `mod m;` pulls in the file: an import from the module's declaration
        (f"{m}::render", "imports", r, R),
        (f"{m}::shapes", "imports", s, R),
        (m, "imports", f"{r}::render", R),  # use render::render as render_all
        (m, "imports", f"{s}::Circle", R),
        (m, "imports", f"{s}::Polygon", R),
        (m, "imports", f"{s}::Shape", R),  # use shapes::Shape as _: imported, not bound
        (f"{m}::total_area", "references", f"{s}::Shape", R),  # dyn shapes::Shape
        (f"{m}::main", "references", f"{s}::Shape", R),
        (f"{m}::main", "calls", f"{s}::Circle.new", R),  # Circle::new through the use
        (f"{m}::main", "calls", f"{s}::Polygon", R),  # Polygon::Square(..), Polygon::Rect { .. }
        (f"{m}::main", "references", f"{s}::Polygon", R),  # the Rect variant's path
        (f"{m}::main", "calls", f"{r}::render", R),  # render_all: the alias
        (f"{m}::main", "calls", f"{m}::total_area", R),
        (r, "imports", f"{s}::Polygon", R),  # use crate::shapes::{Polygon, Shape}
        (r, "imports", f"{s}::Shape", R),
        # impl Shape for Polygon: the impl block (named by its type) implements the trait
        (f"{r}::Polygon", "inherits", f"{s}::Shape", R),
        (f"{r}::Polygon", "references", f"{s}::Shape", R),
        (f"{r}::Polygon.area", "references", f"{s}::Polygon", R),  # Polygon::Rect { .. } pattern
        (f"{r}::render", "references", f"{s}::Shape", R),
        (f"{s}::Circle", "inherits", f"{s}::Shape", R),
        (f"{s}::Circle", "references", f"{s}::Shape", R),
        (f"{s}::Circle.new", "calls", f"{s}::Circle", R),  # the struct expression
        (f"{s}::Circle.new", "references", f"{s}::Circle", R),  # Self and Circle { .. }
    }
    # s.area() on a closure's argument: any method named area may be it, and the edges say so.
    # render's are inside format!(...)'s arguments, which the indexer parses as a call's.
    assert {e for e in edges if e[3] != R} == {
        (f"{m}::total_area", "calls", f"{s}::Shape.area", N),
        (f"{m}::total_area", "calls", f"{s}::Circle.area", N),
        (f"{m}::total_area", "calls", f"{r}::Polygon.area", N),
        (f"{r}::render", "calls", f"{s}::Shape.area", N),
        (f"{r}::render", "calls", f"{s}::Circle.area", N),
        (f"{r}::render", "calls", f"{r}::Polygon.area", N),
        (f"{r}::render", "calls", f"{s}::Shape.name", N),
    }


RULES = {
    "Cargo.toml": '[workspace]\nmembers = ["core", "app"]\n',
    "core/Cargo.toml": '[package]\nname = "geo-core"\nversion = "0.1.0"\n\n[dependencies]\nserde = "1"\n',
    "app/Cargo.toml": '[package]\nname = "app"\n',
    "core/src/lib.rs": (
        "pub mod geo;\n"
        "mod util;\n"
        "#[macro_export]\n"
        "macro_rules! square { ($x:expr) => { $x * $x }; }\n"
        "pub use geo::shapes::Circle as Round;\n"
        "pub use util::helper;\n"
        "\n"
        "mod inner {\n"
        "    pub fn deep() -> u32 { super::util::helper() }\n"
        "}\n"
        "\n"
        "pub fn version() -> u32 {\n"
        "    inner::deep();\n"
        "    self::inner::deep();\n"
        "    crate::geo::shapes::unit();\n"
        "    helper()\n"
        "}\n"
    ),
    "core/src/util.rs": "pub fn helper() -> u32 { 1 }\n",
    # Rust 2018 layout: geo.rs declares geo/shapes/
    "core/src/geo.rs": (
        "pub mod shapes;\n"
        "pub trait Area {\n"
        "    fn area(&self) -> f64;\n"
        "    fn double(&self) -> f64 { self.area() * 2.0 }\n"
        "}\n"
        "pub trait Named: Area + std::fmt::Debug {\n"
        "    fn name(&self) -> String { String::new() }\n"
        "}\n"
    ),
    # mod.rs layout
    "core/src/geo/shapes/mod.rs": (
        "mod area_impl;\n"
        "mod circle;\n"
        "pub use self::circle::Circle;\n"
        "use super::Area;\n"
        "pub fn unit() -> Circle { Circle::new(1.0) }\n"
        "pub fn describe(c: &Circle) -> f64 { c.double() + Circle::double(c) + square!(2.0) }\n"
        "#[cfg(test)]\n"
        "mod tests {\n"
        "    use super::*;\n"
        "    fn t() { unit(); describe(&Circle::new(2.0)); }\n"
        "}\n"
    ),
    "core/src/geo/shapes/circle.rs": (
        "use crate::geo::{Area, Named};\n"
        "use serde::Serialize;\n"
        "#[derive(Debug, Default)]\n"
        "pub struct Circle { pub r: f64 }\n"
        "impl Circle {\n"
        "    pub fn new(r: f64) -> Circle {\n"
        "        fn clamp(x: f64) -> f64 { x }\n"
        "        Circle { r: clamp(r) }\n"
        "    }\n"
        "}\n"
        "fn helper() -> String {\n"
        "    let c = Circle::new(1.0);\n"
        "    Circle::name(&c);\n"
        "    Circle::default();\n"
        "    Serialize::serialize(&c);\n"
        "    println!(\"{}\", c.r);\n"
        "    let v: Vec<u8> = Vec::new();\n"
        "    String::from(\"x\")\n"
        "}\n"
    ),
    # Circle's trait impls, in another file than the type
    "core/src/geo/shapes/area_impl.rs": (
        "use super::circle::Circle;\n"
        "use crate::geo::{Area, Named};\n"
        "impl Area for Circle { fn area(&self) -> f64 { self.r } }\n"
        "impl Named for Circle {}\n"
    ),
    "app/src/main.rs": (
        "mod cli;\n"
        "use geo_core::geo::shapes as sh;\n"
        "use geo_core::{version, Round};\n"
        "use geo_core::geo::*;\n"
        "fn main() {\n"
        "    let c = sh::unit();\n"
        "    let d = Round::new(3.0);\n"
        "    version();\n"
        "    sh::describe(&c);\n"
        "    c.area();\n"
        "    cli::run();\n"
        "    missing_fn();\n"
        "    std::process::exit(0);\n"
        "}\n"
    ),
    "app/src/cli.rs": (
        "use crate::cli::opts::Opts;\n"
        "mod opts;\n"
        "pub fn run() { Opts::parse().check(); }\n"
    ),
    "app/src/cli/opts.rs": (
        "pub struct Opts;\n"
        "impl Opts {\n"
        "    pub fn parse() -> Self { Self::default_opts() }\n"
        "    fn default_opts() -> Self { Opts }\n"
        "    pub fn check(&self) { self.validate(); }\n"
        "}\n"
        "impl Opts { fn validate(&self) {} }\n"
    ),
    "tools/loose.rs": "fn run() { version(); }\n",
}

def test_rust_rules(tmp_path):
    write_tree(tmp_path, RULES)
    index(tmp_path)
    edges = graph_edges(tmp_path)
    lib, util, geo = "core/src/lib.rs", "core/src/util.rs", "core/src/geo.rs"
    shapes, circle = "core/src/geo/shapes/mod.rs", "core/src/geo/shapes/circle.rs"
    area, main, cli, opts = "core/src/geo/shapes/area_impl.rs", "app/src/main.rs", "app/src/cli.rs", "app/src/cli/opts.rs"
    assert edges == {
        # the module tree: lib.rs -> geo.rs -> geo/shapes/mod.rs -> circle.rs, area_impl.rs
        (f"{lib}::geo", "imports", geo, R),
        (f"{lib}::util", "imports", util, R),
        (f"{geo}::shapes", "imports", shapes, R),
        (f"{shapes}::circle", "imports", circle, R),
        (f"{shapes}::area_impl", "imports", area, R),
        (f"{main}::cli", "imports", cli, R),
        (f"{cli}::opts", "imports", opts, R),  # cli.rs (not mod.rs) declares cli/opts.rs
        # use paths: crate, self, super, re-exports, aliases
        (lib, "imports", f"{circle}::Circle", R),  # pub use geo::shapes::Circle as Round
        (lib, "imports", f"{util}::helper", R),
        (shapes, "imports", f"{circle}::Circle", R),  # pub use self::circle::Circle
        (shapes, "imports", f"{geo}::Area", R),  # use super::Area
        (f"{shapes}::tests", "imports", shapes, R),  # use super::* in an inline module
        (circle, "imports", f"{geo}::Area", R),  # use crate::geo::{Area, Named}
        (circle, "imports", f"{geo}::Named", R),
        (area, "imports", f"{circle}::Circle", R),  # use super::circle::Circle
        (area, "imports", f"{geo}::Area", R),
        (area, "imports", f"{geo}::Named", R),
        (cli, "imports", f"{opts}::Opts", R),  # use crate::cli::opts::Opts
        # another crate of the workspace, by its Cargo name (geo-core -> geo_core)
        (main, "imports", shapes, R),  # use geo_core::geo::shapes as sh
        (main, "imports", f"{lib}::version", R),
        (main, "imports", f"{circle}::Circle", R),  # Round, re-exported by lib.rs
        (main, "imports", geo, R),  # a glob: the module
        # calls through modules, inline modules and bindings
        (f"{lib}::inner.deep", "calls", f"{util}::helper", R),  # super::util::helper()
        (f"{lib}::version", "calls", f"{lib}::inner.deep", R),  # inner::deep(), self::inner::deep()
        (f"{lib}::version", "calls", f"{shapes}::unit", R),  # crate::geo::shapes::unit()
        (f"{lib}::version", "calls", f"{util}::helper", R),  # the `pub use` binding
        (f"{main}::main", "calls", f"{shapes}::unit", R),  # sh::unit()
        (f"{main}::main", "calls", f"{circle}::Circle.new", R),  # Round::new
        (f"{main}::main", "calls", f"{lib}::version", R),
        (f"{main}::main", "calls", f"{shapes}::describe", R),
        (f"{main}::main", "calls", f"{cli}::run", R),
        (f"{shapes}::tests.t", "calls", f"{shapes}::unit", R),  # through use super::*
        (f"{shapes}::tests.t", "calls", f"{shapes}::describe", R),
        (f"{shapes}::tests.t", "calls", f"{circle}::Circle.new", R),
        (f"{circle}::Circle.new", "calls", f"{circle}::Circle.new.clamp", R),  # a nested fn
        (f"{circle}::Circle.new", "calls", f"{circle}::Circle", R),  # Circle { .. }
        # Type::f through impl blocks, Self::f, self.m() in another impl block of the type
        (f"{shapes}::unit", "calls", f"{circle}::Circle.new", R),
        (f"{circle}::helper", "calls", f"{circle}::Circle.new", R),
        (f"{cli}::run", "calls", f"{opts}::Opts.parse", R),
        (f"{opts}::Opts.parse", "calls", f"{opts}::Opts.default_opts", R),
        (f"{opts}::Opts.check", "calls", f"{opts}::Opts.validate", R),
        # a trait's default method, reached through the type that implements it elsewhere
        (f"{shapes}::describe", "calls", f"{geo}::Area.double", R),  # Circle::double(c)
        (f"{circle}::helper", "calls", f"{geo}::Named.name", R),  # Circle::name(&c)
        (f"{geo}::Area.double", "calls", f"{geo}::Area.area", R),  # self.area() in the trait
        # trait impls (the impl block, named by its type) and supertraits
        (f"{area}::Circle", "inherits", f"{geo}::Area", R),
        (f"{area}::Circle", "inherits", f"{geo}::Named", R),
        (f"{area}::Circle", "references", f"{geo}::Area", R),
        (f"{area}::Circle", "references", f"{geo}::Named", R),
        (f"{geo}::Named", "inherits", f"{geo}::Area", R),  # not std::fmt::Debug
        (f"{geo}::Named", "references", f"{geo}::Area", R),
        # type uses, Self included
        (f"{circle}::Circle.new", "references", f"{circle}::Circle", R),
        (f"{shapes}::unit", "references", f"{circle}::Circle", R),
        (f"{shapes}::describe", "references", f"{circle}::Circle", R),
        (f"{opts}::Opts.parse", "references", f"{opts}::Opts", R),
        (f"{opts}::Opts.default_opts", "references", f"{opts}::Opts", R),
        # guesses: methods of values of unknown type, a macro of the crate, a file no
        # `mod` declaration reaches
        (f"{main}::main", "calls", f"{geo}::Area.area", N),  # c.area()
        (f"{main}::main", "calls", f"{area}::Circle.area", N),
        (f"{shapes}::describe", "calls", f"{geo}::Area.double", N),  # c.double()
        (f"{cli}::run", "calls", f"{opts}::Opts.check", N),  # Opts::parse().check()
        (f"{shapes}::describe", "calls", f"{lib}::square", N),  # square!(2.0)
        ("tools/loose.rs::run", "calls", f"{lib}::version", N),
    }
    # Not linked, by the equality above: std, serde and prelude paths (Vec::new, String::from,
    # Serialize::serialize, std::process::exit), a derived method (Circle::default), std
    # macros (println!), a name defined nowhere (missing_fn), a supertrait from std.


def test_rust_binaries_and_names_out_of_scope(tmp_path):
    write_tree(tmp_path, {
        # no Cargo.toml: the package is the directory above src/, the crate its name
        "tool-kit/src/lib.rs": (
            "pub mod store;\n"
            "pub fn format(x: u32) -> String { format!(\"{x}\") }\n"
        ),
        "tool-kit/src/store.rs": (
            "pub struct Vec;\n"
            "impl Vec {\n"
            "    pub fn new() -> Vec { Vec }\n"
            "    pub fn swap(&mut self, other: &mut Vec) {}\n"
            "}\n"
            "pub struct T;\n"
            "pub fn keep<T: Clone>(x: T) -> T { x.clone() }\n"
        ),
        "tool-kit/src/bin/cli.rs": (
            "mod args;\n"
            "use tool_kit::store::keep;\n"
            "use std::mem;\n"
            "fn main() {\n"
            "    keep(args::parse());\n"
            "    tool_kit::format(1);\n"
            "    let (mut v, mut w) = (Vec::new(), Vec::new());\n"
            "    mem::swap(&mut v, &mut w);\n"
            "    v.swap(&mut w);\n"
            "}\n"
        ),
        "tool-kit/src/bin/args.rs": "pub fn parse() -> u32 { 1 }\n",
    })
    index(tmp_path)
    edges = graph_edges(tmp_path)
    lib, store, cli, args = ("tool-kit/src/lib.rs", "tool-kit/src/store.rs", "tool-kit/src/bin/cli.rs",
                             "tool-kit/src/bin/args.rs")
    assert edges == {
        (f"{lib}::store", "imports", store, R),
        (f"{cli}::args", "imports", args, R),  # a binary's modules sit beside it in src/bin/
        (cli, "imports", f"{store}::keep", R),
        (f"{cli}::main", "calls", f"{store}::keep", R),
        (f"{cli}::main", "calls", f"{args}::parse", R),
        (f"{cli}::main", "calls", f"{lib}::format", R),  # tool-kit -> tool_kit
        (f"{cli}::main", "calls", f"{store}::Vec.swap", N),  # v.swap(..): v's type is unknown
        (f"{store}::Vec.new", "references", f"{store}::Vec", R),
        (f"{store}::Vec.swap", "references", f"{store}::Vec", R),
    }
    # Not linked: format!(..) is std's macro, not lib.rs's format; the generic parameter T
    # is not the struct T; Vec::new() in cli.rs is std's Vec (store::Vec is not in scope);
    # mem::swap is std's, through `use std::mem`, not a method named swap;
    # x.clone() on a value of a generic type is a method of std's Clone.
