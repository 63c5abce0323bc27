"""JavaScript and TypeScript resolution: the two fixtures, checked edge by edge, and one case
per rule."""

from __future__ import annotations

import shutil

import pytest
from conftest import FIXTURES, graph_edges, index, write_tree

R, I, N = "resolved", "inferred", "name"


def fixture_edges(tmp_path, lang):
    root = tmp_path / lang
    shutil.copytree(FIXTURES / lang, root)
    index(root)
    return graph_edges(root)


def test_fixture_javascript_edges_exactly(tmp_path):
    edges = fixture_edges(tmp_path, "javascript")
    m, s, u = "src/main.js", "src/shapes.js", "src/util.js"
    assert {e for e in edges if e[3] != N} == {
        (m, "imports", f"{s}::Circle", R),
        (m, "imports", f"{s}::square", R),  # square as makeSquare
        (m, "imports", f"{u}::sumAreas", R),
        # import report from: the default export is the function the importer names
        (m, "imports", f"{u}::report", I),
        (m, "imports", u, R),  # import * as util: the file
        (f"{m}::main", "calls", f"{m}::loadConfig", R),
        (f"{m}::main", "calls", f"{s}::Circle", R),  # new Circle(...)
        (f"{m}::main", "calls", f"{s}::square", R),  # through the alias makeSquare
        (f"{m}::main", "calls", f"{u}::report", I),
        (f"{m}::main", "calls", f"{u}::formatArea", R),  # util.formatArea: a namespace
        (f"{m}::main", "calls", f"{u}::sumAreas", R),
        (m, "calls", f"{m}::main", R),
        (f"{s}::Circle", "inherits", f"{s}::Shape", R),
        (f"{s}::Rect", "inherits", f"{s}::Shape", R),
        (f"{s}::square", "calls", f"{s}::Rect", R),
        (f"{u}::units.label", "calls", f"{u}::formatArea", R),
        (f"{u}::report", "calls", f"{u}::units.label", R),  # a method of an object literal
    }
    # s.area() on a parameter: every method named area is a candidate, and says so.
    areas = {f"{s}::{c}.area" for c in ("Shape", "Circle", "Rect")}
    assert {e for e in edges if e[3] == N} == {
        (f"{u}::{f}", "calls", a, N) for f in ("sumAreas", "report") for a in areas}
    # Nothing for require("node:fs"), readFileSync (bound by it), JSON, console, Error, Math.
    assert not any("readFileSync" in e[2] or "node:fs" in e[2] for e in edges)


def test_fixture_typescript_edges_exactly(tmp_path):
    edges = fixture_edges(tmp_path, "typescript")
    t, us, c = "src/types.ts", "src/userService.ts", "src/UserCard.tsx"
    assert {e for e in edges if e[3] != N} == {
        (f"{t}::User", "inherits", f"{t}::Entity", R),
        (f"{t}::User", "references", f"{t}::Entity", R),
        (f"{t}::UserId", "references", f"{t}::User", R),
        (f"{t}::Repository", "references", f"{t}::Entity", R),  # the constraint T extends Entity
        (f"{t}::BaseService.health", "references", f"{t}::Status", R),
        (us, "imports", f"{t}::BaseService", R),
        (us, "imports", f"{t}::Status", R),
        (us, "imports", f"{t}::Repository", R),
        (us, "imports", f"{t}::User", R),  # User as UserRecord
        (us, "imports", f"{t}::UserId", R),
        (f"{us}::UserService", "inherits", f"{t}::BaseService", R),
        (f"{us}::UserService", "inherits", f"{t}::Repository", R),  # implements
        (f"{us}::UserService", "references", f"{t}::Repository", R),
        (f"{us}::UserService", "references", f"{t}::User", R),
        (f"{us}::UserService", "references", f"{t}::UserId", R),
        (f"{us}::UserService.get", "references", f"{t}::UserId", R),
        (f"{us}::UserService.get", "references", f"{t}::User", R),
        (f"{us}::UserService.save", "references", f"{t}::User", R),
        # this.log(): not in UserService, found in its base across files
        (f"{us}::UserService.save", "calls", f"{t}::BaseService.log", I),
        (f"{us}::UserService.health", "references", f"{t}::Status", R),
        (f"{us}::UserService.displayName", "references", f"{t}::User", R),
        (f"{us}::createUserService", "references", f"{us}::UserService", R),
        (f"{us}::createUserService", "calls", f"{us}::UserService", R),
        (c, "imports", f"{us}::createUserService", R),
        (c, "imports", f"{us}::UserService", R),
        (c, "imports", f"{t}::User", R),
        (f"{c}::UserCardProps", "references", f"{t}::User", R),
        (f"{c}::UserCardProps", "references", f"{us}::UserService", R),  # Service
        (f"{c}::UserCard", "references", f"{c}::UserCardProps", R),
        (f"{c}::UserCard", "calls", f"{us}::createUserService", R),
        (f"{c}::UserList", "references", f"{t}::User", R),
        (f"{c}::UserList", "calls", f"{c}::UserCard", R),  # <UserCard user={u} />
    }
    # svc.m() on a local variable and this.users.get() on a field: guesses by name only
    # (the edge of UserService.get to itself is dropped).
    assert {e for e in edges if e[3] == N} == {
        (f"{c}::UserCard", "calls", f"{us}::UserService.displayName", N),
        (f"{c}::UserCard", "calls", f"{us}::UserService.health", N),
        (f"{c}::UserCard", "calls", f"{t}::BaseService.health", N),
        (f"{us}::UserService.get", "calls", f"{t}::Repository.get", N),
    }


RULES = {
    "src/core/base.ts": (
        "export class Base {\n"
        "  hello(): string { return 'hi'; }\n"
        "  static create(): Base { return new Base(); }\n"
        "  static other(): void {}\n"
        "}\n"
        "export interface Named { name: string; }\n"
    ),
    "src/core/widget.ts": (
        'import { Base as B, Named } from "./base.js";\n'  # .js naming the .ts source
        "export default class Widget extends B implements Named {\n"
        "  render(): string { return this.hello() + this.draw(); }\n"
        "  draw(): string { return super.hello(); }\n"
        "}\n"
        "export function helper(): number { return 1; }\n"
        "export function tool(): number { return 2; }\n"
    ),
    "src/core/index.ts": (  # a barrel
        'export * from "./widget";\n'
        'export { default as Widget } from "./widget";\n'
        'export { Base as Root } from "./base";\n'
        'export * from "./loop";\n'
    ),
    "src/core/loop.ts": 'export * from "./index";\nexport function looped() { return 0; }\n',
    "src/index.ts": 'export { Root as Origin } from "./core";\n',  # a second barrel
    "src/consumer.ts": 'import { Origin } from ".";\nexport function use() { Origin.create(); }\n',
    "src/gadget.ts": "export default function () { return 1; }\nexport function other() {}\n",
    "src/types.d.ts": "export interface Cfg { debug: boolean; }\n",
    "src/app.ts": (
        'import React, { useState } from "react";\n'
        'import "./polyfill";\n'
        'import { helper, Widget, Root, looped, nothing } from "./core";\n'
        'import Gadget from "./gadget";\n'
        'import Button from "./ui/Button";\n'
        'import * as core from "./core/base";\n'
        'import * as W from "./core/widget";\n'
        'import type { Cfg } from "./types";\n'
        'import styles from "./styles.css";\n'
        'import { missing } from "./gone";\n'
        "\n"
        "export class App extends React.Component {\n"
        "  run() {\n"
        "    const w = new Widget();\n"
        "    w.render();\n"
        "    helper();\n"
        "    looped();\n"
        "    Root.create();\n"
        "    core.Base.other();\n"
        "    W.tool();\n"
        "    Gadget();\n"
        "    Button();\n"
        "    useState();\n"
        "    this.setState();\n"
        "    console.log(styles.main);\n"
        "    missing();\n"
        "    return new Error('x');\n"
        "  }\n"
        "}\n"
        "function local() { function inner() {} inner(); }\n"
        "export function typed(n: core.Named, c: Cfg): void {}\n"
    ),
    "src/polyfill.js": "globalThis.ready = true;\n",
    # Definitions sharing names with what app.ts takes from outside: never linked to it.
    "src/hooks.js": "export function useState() {}\n",
    "src/errors.ts": (
        "export class Error {}\nexport class Component {}\nexport function missing() {}\n"
        "class Other { setState() {} }\n"
    ),
    "src/ui/Button.tsx": "export default function Button() { return <button />; }\n",
    "src/ui/Card.tsx": (
        'import { helper } from "../core/widget";\n'
        "export function Card() { return <div>{helper()}</div>; }\n"
    ),
    "src/page.tsx": 'import { Card } from "./ui/Card";\nexport const Page = () => <Card />;\n',
    "src/tools.js": "function format() {}\nfunction spin() {}\nmodule.exports = { format, spin };\n",
    "src/legacy.js": (
        'const tools = require("./tools");\n'
        'const { spin } = require("./tools");\n'
        "function go() { tools.format(); spin(); globalHelper(); }\n"
    ),
    "src/script.js": "function globalHelper() {}\n",
    "src/boot.js": "function boot() { globalHelper(); }\n",  # a script: it imports nothing
    "src/obj.js": "export const api = {\n  get() { return this.fetch(); },\n  fetch() { return 1; },\n};\n",
}
APP, BASE, WID, CORE = "src/app.ts", "src/core/base.ts", "src/core/widget.ts", "src/core/index.ts"


@pytest.fixture(scope="module")
def rules_edges(tmp_path_factory):
    root = tmp_path_factory.mktemp("ecma")
    write_tree(root, RULES)
    index(root)
    return graph_edges(root)


def test_relative_paths_and_extensions(rules_edges):
    assert {
        (f"{WID}", "imports", f"{BASE}::Base", R),  # "./base.js" is base.ts
        (APP, "imports", "src/polyfill.js", R),  # a side-effect import: the file
        (APP, "imports", "src/types.d.ts::Cfg", R),  # "./types" is types.d.ts
        (f"{APP}::typed", "references", "src/types.d.ts::Cfg", R),
        ("src/ui/Card.tsx", "imports", f"{WID}::helper", R),  # "../core/widget"
        ("src/page.tsx", "imports", "src/ui/Card.tsx::Card", R),  # "./ui/Card" is Card.tsx
        ("src/page.tsx::Page", "calls", "src/ui/Card.tsx::Card", R),  # <Card />
    } <= rules_edges


def test_barrel_reexports_reach_the_definition(rules_edges):
    assert {
        (APP, "imports", f"{WID}::helper", R),  # "./core" is core/index.ts; export * from
        (APP, "imports", f"{BASE}::Base", R),  # export { Base as Root }
        (APP, "imports", "src/core/loop.ts::looped", R),  # export * from a module in a cycle
        (APP, "imports", f"{WID}::Widget", I),  # export { default as Widget }
        (f"{APP}::App.run", "calls", f"{WID}::helper", R),
        (f"{APP}::App.run", "calls", "src/core/loop.ts::looped", R),
        (f"{APP}::App.run", "calls", f"{WID}::Widget", I),  # new Widget()
        (f"{APP}::App.run", "calls", f"{BASE}::Base.create", R),  # Root.create()
        (CORE, "imports", WID, R),  # export * from: the file
        (CORE, "imports", f"{BASE}::Base", R),
    } <= rules_edges
    # a chain of renaming re-exports: Origin is Root is Base
    assert {
        ("src/consumer.ts", "imports", f"{BASE}::Base", R),
        ("src/consumer.ts::use", "calls", f"{BASE}::Base.create", R),
    } <= rules_edges
    # `nothing` is exported nowhere (the barrels' cycle ends): only the file is certain.
    assert (APP, "imports", CORE, R) in rules_edges


def test_default_and_namespace_imports(rules_edges):
    assert {
        (APP, "imports", "src/ui/Button.tsx::Button", I),
        (f"{APP}::App.run", "calls", "src/ui/Button.tsx::Button", I),
        # an anonymous default export: the file is imported, the call links nothing
        (APP, "imports", "src/gadget.ts", R),
        (APP, "imports", BASE, R),  # import * as core
        (APP, "imports", WID, R),  # import * as W
        (f"{APP}::App.run", "calls", f"{BASE}::Base.other", R),  # core.Base.other()
        (f"{APP}::App.run", "calls", f"{WID}::tool", R),  # W.tool()
        (f"{APP}::typed", "references", f"{BASE}::Named", R),  # core.Named
    } <= rules_edges
    assert not any(e[2].startswith("src/gadget.ts::") for e in rules_edges)


def test_calls_through_scopes_classes_and_bases(rules_edges):
    assert {
        (f"{APP}::local", "calls", f"{APP}::local.inner", R),
        (f"{WID}::Widget", "inherits", f"{BASE}::Base", R),  # through the alias B
        (f"{WID}::Widget", "inherits", f"{BASE}::Named", R),  # implements
        (f"{WID}::Widget.render", "calls", f"{WID}::Widget.draw", R),  # this.draw()
        (f"{WID}::Widget.render", "calls", f"{BASE}::Base.hello", I),  # this.hello(): the base's
        (f"{WID}::Widget.draw", "calls", f"{BASE}::Base.hello", R),  # super.hello()
        ("src/obj.js::api.get", "calls", "src/obj.js::api.fetch", I),  # this in an object literal
        # w.render() on a local variable: a guess among methods named render
        (f"{APP}::App.run", "calls", f"{WID}::Widget.render", N),
    } <= rules_edges


def test_require(rules_edges):
    assert {
        ("src/legacy.js::tools", "imports", "src/tools.js", R),
        ("src/legacy.js", "imports", "src/tools.js", R),
        ("src/legacy.js::go", "calls", "src/tools.js::format", I),  # const tools = require(...)
        ("src/legacy.js::go", "calls", "src/tools.js::spin", I),  # const { spin } = require(...)
        # a script importing nothing: a global of another script, by name
        ("src/boot.js::boot", "calls", "src/script.js::globalHelper", N),
    } <= rules_edges
    # a module sees no other module's names without importing them: no guess
    assert not any(e[0] == "src/legacy.js::go" and "globalHelper" in e[2] for e in rules_edges)


def test_packages_globals_and_missing_modules_are_not_guessed(rules_edges):
    run = {e[2] for e in rules_edges if e[0] == f"{APP}::App.run"}
    # useState from react, this.setState() of React.Component, new Error(), missing from a
    # module that is not in the repository: defined here too, but none of them is that one.
    assert not any(t.startswith(("src/hooks.js", "src/errors.ts")) for t in run)
    assert not any(e[0] == f"{APP}::App" and e[1] == "inherits" for e in rules_edges)
    assert not any(e[0] == APP and ("styles" in e[2] or "gone" in e[2]) for e in rules_edges)
    assert run == {
        f"{WID}::Widget", f"{WID}::Widget.render", f"{WID}::helper", "src/core/loop.ts::looped",
        f"{BASE}::Base.create", f"{BASE}::Base.other", f"{WID}::tool", "src/ui/Button.tsx::Button",
    }


def test_ts_prefers_ts_sources_and_js_its_own(tmp_path):
    write_tree(tmp_path, {
        "lib/a.ts": "export function f() {}\n",
        "lib/a.js": "export function f() {}\n",  # compiled output beside its source
        "use.ts": 'import { f } from "./lib/a";\n',
        "use.js": 'import { f } from "./lib/a";\n',
        "dir/index.js": "export function g() {}\n",
        "usedir.js": 'import { g } from "./dir";\n',
    })
    index(tmp_path)
    edges = graph_edges(tmp_path)
    assert ("use.ts", "imports", "lib/a.ts::f", R) in edges
    assert ("use.js", "imports", "lib/a.js::f", R) in edges
    assert ("usedir.js", "imports", "dir/index.js::g", R) in edges


TYPED = {
    "src/types/disposable.ts": "export default interface Disposable { dispose(): void; }\n",
    "src/types/container.ts": (
        'import Disposable from "./disposable";\n'
        "export interface Container extends Disposable {\n"
        "  resolve(token: string): unknown;\n"
        "  register(token: string): Container;\n"
        "}\n"
    ),
    "src/container.ts": (
        'import { Container } from "./types/container";\n'
        "class Impl implements Container {\n"
        "  resolve(token: string): unknown { return token; }\n"
        "  register(token: string): Container { return this; }\n"
        "  dispose(): void {}\n"
        "}\n"
        # the declared type, not the class constructed, is what callers see
        "export const instance: Container = new Impl();\n"
        "export const cache = new Map<string, Impl>();\n"
        "export function lookup(k: string) { return cache.get(k); }\n"
    ),
    "src/index.ts": 'export { instance as container } from "./container";\n',
    "src/registry.ts": (
        "class BaseRegistry { get(k: string) { return k; } set(k: string) {} }\n"
        "export class Registry extends BaseRegistry { add() {} }\n"
        "export const registry = new Registry();\n"
    ),
    "src/shapes.ts": (
        'import { Client } from "pg";\n'
        "export class Widget { filter() {} then() {} query() {} }\n"
        "export class Builder { build(): Widget { return new Widget(); } filter() {} }\n"
        "export const widgets: Widget[] = [];\n"
        "export const either: Widget | Builder = new Builder();\n"
        "export const built = new Builder().build();\n"
        "export const built2 = new Builder(\n).build();\n"
        "export const holder = { w: new Widget() };\n"
        "export const pending: Promise<Widget> = Promise.resolve(new Widget());\n"
        "export const db: Client = connect();\n"
    ),
    "src/use.ts": (
        'import { container } from ".";\n'
        'import { instance as c } from "./container";\n'
        'import { registry } from "./registry";\n'
        'import * as s from "./shapes";\n'
        "export function go() {\n"
        "  c.resolve('a');\n"
        "  container.register('b');\n"
        "  c.dispose();\n"
        "  registry.add();\n"
        "  registry.get('k');\n"
        "  s.widgets.filter();\n"
        "  s.either.filter();\n"
        "  s.built.filter();\n"
        "  s.built2.filter();\n"
        "  s.holder.filter();\n"
        "  s.pending.then();\n"
        "  s.db.query();\n"
        "}\n"
    ),
    "src/legacy.js": (
        "class Store { save() {} }\nconst store = new Store();\nfunction keep() { store.save(); }\n"
    ),
}
USE, SHAPES = "src/use.ts::go", "src/shapes.ts"


@pytest.fixture(scope="module")
def typed_edges(tmp_path_factory):
    root = tmp_path_factory.mktemp("typed")
    write_tree(root, TYPED)
    index(root)
    return graph_edges(root)


def test_typed_variable_through_an_import_reaches_the_declared_interface(typed_edges):
    assert {
        (USE, "calls", "src/types/container.ts::Container.resolve", I),
        (USE, "calls", "src/types/container.ts::Container.register", I),  # through the barrel
        (USE, "calls", "src/types/disposable.ts::Disposable.dispose", I),  # an extended interface
    } <= typed_edges
    # not the class constructed, and no guess among the methods of the same names
    assert not any(e[0] == USE and "Impl." in e[2] for e in typed_edges)


def test_new_initializer_gives_the_class(typed_edges):
    assert {
        (USE, "calls", "src/registry.ts::Registry.add", I),
        (USE, "calls", "src/registry.ts::BaseRegistry.get", I),  # through its base
        ("src/legacy.js::keep", "calls", "src/legacy.js::Store.save", I),
    } <= typed_edges


def test_types_from_outside_link_nothing(typed_edges):
    # cache = new Map(): cache.get() is Map's, not BaseRegistry.get; nor is pending.then()
    # (a Promise) Widget.then, nor db.query() (pg's Client) Widget.query.
    assert not any(e[0] == "src/container.ts::lookup" and e[1] == "calls" for e in typed_edges)
    assert not any(e[0] == USE and e[2].endswith((".then", ".query")) for e in typed_edges)


def test_declarations_of_other_shapes_are_not_read_as_a_type(typed_edges):
    # Widget[], a union, what a call on a new object returns (on one line or several), an
    # object literal: the rule claims nothing, and the call stays a guess by name.
    filters = {e for e in typed_edges if e[0] == USE and e[2].endswith(".filter")}
    assert filters == {(USE, "calls", f"{SHAPES}::{c}.filter", N) for c in ("Widget", "Builder")}
