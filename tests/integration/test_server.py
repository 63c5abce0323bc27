"""The gRPC server, started for real on a loopback port, called through real channels."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
from conftest import index, write_tree
from fixtures.graph_python import RULES
from repoqa.v1 import assistant_pb2

from service.client import UTF8, UTF16, Client
from service.config import index_options
from service.errors import ServiceError
from service.rpc import Registry
from service.server import ServerOptions, build_server, start_server

TOKEN = "s3cret-token"


class Server:
    """A real grpc.aio server on its own event loop thread, on a free port."""

    def __init__(self, roots, token: str = "", searcher_for=None, allowed=(), generator_opener=None):
        from service.cli import _server_searcher

        self.registry = Registry(index_options, allowed=allowed)
        for r in roots:
            self.registry.add(r, trusted=True)
        self.loop = asyncio.new_event_loop()
        self.options = ServerOptions(port=0, token=token, grace_s=1.0)
        ready = threading.Event()

        def main():
            asyncio.set_event_loop(self.loop)

            async def start():
                self.server, self.port, _ = await start_server(self.options, self.registry,
                                                               searcher_for=searcher_for or _server_searcher(),
                                                               generator_opener=generator_opener)
                ready.set()
                await self.server.wait_for_termination()

            self.loop.run_until_complete(start())

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        assert ready.wait(20)

    def client(self, **kw) -> Client:
        return Client(f"127.0.0.1:{self.port}", **kw)

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.server.stop(0.5), self.loop)
        self.thread.join(10)  # ends when the server has terminated
        assert not self.thread.is_alive()


@pytest.fixture()
def repo(tmp_path):
    root = tmp_path / "proj"
    write_tree(root, RULES)
    index(root)
    return root


@pytest.fixture()
def server(repo):
    s = Server([repo], allowed=[repo.parent])
    yield s
    s.stop()


def test_navigation_rpcs(server, repo):
    with server.client() as c:
        # main.py line 7 (0-based 6) `    helper()`: go to helper's definition
        d = c.definition("proj", "main.py", 6, 4)
        assert [(x.location.path, x.location.range.start.line, x.symbol) for x in d.locations] == [
            ("app/util.py", 7, "helper")]
        assert d.snapshot.stamp
        # on no use of a definition (the local `e` of `    e = Engine()`), saved or in a buffer,
        # or on a builtin only the buffer calls: no definition, not the enclosing run()
        main = (repo / "main.py").read_text()
        for text in (None, main, main + "    print(len(main))\n"):
            assert list(c.definition("proj", "main.py", 5, 4, text=text).locations) == [], text
        assert list(c.definition("proj", "main.py", 9, 5, text=main + "    print(len(main))\n").locations) == []
        d = c.definition("proj", "main.py", 4, 4)  # on `run` of `def run():`
        assert [x.symbol for x in d.locations] == ["run"]
        engine = (repo / "app/core/engine.py").read_text()
        for text in (None, engine):  # `make`, below its @classmethod line
            d = c.definition("proj", "app/core/engine.py", 20, 9, text=text)
            assert [x.symbol for x in d.locations] == ["Engine.make"], text
        refs = c.references("proj", "app/util.py", 7, 4)
        assert {(x.location.path, x.location.range.start.line, x.kind) for x in refs.locations} == {
            ("app/core/engine.py", 2, "imports"), ("app/core/engine.py", 14, "calls"),
            ("main.py", 1, "imports"), ("main.py", 6, "calls")}
        inc = c.incoming_calls("proj", "app/util.py", 7, 4)
        assert inc.item.qualname == "helper"
        assert {(x.item.qualname, x.from_ranges[0].start.line) for x in inc.calls} == {
            ("Engine.start", 14), ("run", 6)}
        out = c.outgoing_calls("proj", "main.py", 4, 4)  # def run():
        assert {x.item.qualname for x in out.calls} == {"Engine", "helper", "load", "Engine.make"}
        syms = c.document_symbols("proj", "app/core/engine.py")
        assert [s.qualname for s in syms.symbols][:3] == ["Engine", "Engine.__init__", "Engine.start"]
        ws = c.workspace_symbols("proj", "engstart")
        assert ws.symbols[0].qualname == "Engine.start"


def test_positions_in_utf16_and_utf8_and_unsaved_buffers(tmp_path):
    root = tmp_path / "uni"
    write_tree(root, {"m.py": "def 名前():\n    pass\n\ndef use():\n    s = '日本'; 名前()\n",
                      "other.py": "def fresh():\n    return 1\n"})  # a namesake in another file
    index(root)
    s = Server([root])
    try:
        with s.client() as c:
            line = "    s = '日本'; 名前()"
            u16 = line.index("名前")  # code points == UTF-16 units here
            u8 = len(line[:u16].encode())
            for ch, enc in ((u16, UTF16), (u8, UTF8)):
                d = c.definition("uni", "m.py", 4, ch, encoding=enc)
                assert [x.symbol for x in d.locations] == ["名前"], enc
            # an unsaved buffer: a new function that calls use(), at a line the index lacks
            buf = "def 名前():\n    pass\n\ndef use():\n    s = '日本'; 名前()\n\ndef added():\n    use()\n"
            d = c.definition("uni", "m.py", 7, 5, text=buf)
            assert [x.symbol for x in d.locations] == ["use"]
            syms = c.document_symbols("uni", "m.py", text=buf)
            assert [x.qualname for x in syms.symbols] == ["名前", "use", "added"]
            # what only the buffer defines is found there, in the buffer's lines: from a call,
            # from its own name (not the namesake the index has elsewhere), and a method through
            # `self` (the class's, not the file's)
            buf += ("    fresh()\n\nclass K:\n    def go(self):\n        self.fresh()\n\n"
                    "    def fresh(self):\n        pass\n\ndef fresh():\n    pass\n")
            lines = buf.split("\n")
            for at in ((8, 5), (17, 5)):
                d = c.definition("uni", "m.py", *at, text=buf)
                assert [(x.location.path, x.location.range.start.line, x.location.range.end.line, x.symbol)
                        for x in d.locations] == [("m.py", 17, 18, "fresh")], (at, lines[at[0]])
            d = c.definition("uni", "m.py", 12, 14, text=buf)
            assert [(x.location.range.start.line, x.symbol) for x in d.locations] == [(14, "K.fresh")], lines[12]
    finally:
        s.stop()


def test_an_unsaved_buffer_moves_answers_in_its_own_file(tmp_path):
    """With an unsaved buffer, what lies in the buffer's own file is answered where the buffer
    has it: a definition (its lines moved by what the buffer inserted above it; none where the
    buffer deleted it), a use on a line the buffer kept (moved) or changed (found, by the name
    written there, on the lines that replaced it), a call the buffer deleted (left out, before
    a page is cut); other files keep the index's places."""
    root = tmp_path / "mv"
    write_tree(root, {
        "m.py": ("def helper():\n    return 1\n\n\ndef use():\n    return helper()\n\n\n"
                 "def other():\n    x = helper()\n    return x\n\n\ndef gone():\n    return helper()\n\n\n"
                 "from n import far as f\n\n\ndef aliased():\n    return f()\n"),
        "n.py": "from m import helper\n\n\ndef far():\n    return helper()\n"})
    index(root)
    # three lines inserted at the top; other()'s call rewritten on its line; gone()'s call
    # deleted; the call through an alias rewritten on its line
    buf = ("import os\n\n\ndef helper():\n    return 1\n\n\ndef use():\n    return helper()\n\n\n"
           "def other():\n    y = 2; x = helper() + y\n    return x\n\n\ndef gone():\n    return 0\n\n\n"
           "from n import far as f\n\n\ndef aliased():\n    return 1 + f()\n")
    lines = buf.split("\n")
    s = Server([root])
    try:
        with s.client() as c:
            d = c.definition("mv", "m.py", 8, 12, text=buf)  # helper() in use()
            assert [(x.symbol, x.location.range.start.line, x.location.range.end.line) for x in d.locations] == [
                ("helper", 3, 4)], lines[8]
            refs = c.references("mv", "m.py", 3, 5, text=buf)  # on helper's name
            got = {(x.location.path, x.location.range.start.line, x.location.range.start.character, x.symbol)
                   for x in refs.locations if x.kind == "calls"}
            assert got == {("m.py", 8, lines[8].index("helper"), "use"),
                           ("m.py", 12, lines[12].index("helper"), "other"),
                           ("n.py", 4, 11, "far")}, got
            inc = c.incoming_calls("mv", "m.py", 3, 5, text=buf)
            assert (inc.item.qualname, inc.item.location.range.start.line) == ("helper", 3)
            assert {(x.item.qualname, x.item.location.range.start.line, x.from_ranges[0].start.line)
                    for x in inc.calls} == {("use", 7, 8), ("other", 11, 12), ("far", 3, 4)}
            out = c.outgoing_calls("mv", "m.py", 12, 5, text=buf)  # in other(): the call's place, in the buffer
            assert [(x.item.qualname, x.item.location.range.start.line, [(r.start.line, r.start.character)
                                                                          for r in x.from_ranges]) for x in out.calls] \
                == [("helper", 3, [(12, lines[12].index("helper"))])]
            assert list(c.outgoing_calls("mv", "m.py", 17, 5, text=buf).calls) == []  # gone() calls helper no more
            out = c.outgoing_calls("mv", "m.py", 13, 5)  # without the buffer: the index's
            assert [(x.item.qualname, [r.start.line for r in x.from_ranges]) for x in out.calls] == [("helper", [14])]
            # a use through an alias, on a line the buffer changed: found by the name written there
            at = lines[24].index("f()")
            refs = c.references("mv", "m.py", 24, at, text=buf)
            assert {(x.location.path, x.location.range.start.line, x.location.range.start.character,
                     x.location.range.end.character) for x in refs.locations if x.kind == "calls"} == {
                ("m.py", 24, at, at + 1)}
            # pages of one: the call the buffer deleted is left out before the page is cut
            pages = [[(x.location.path, x.location.range.start.line)
                      for x in c.references("mv", "m.py", 3, 5, text=buf, limit=1, offset=k).locations]
                     for k in range(5)]
            assert pages == [[("m.py", 8)], [("m.py", 12)], [("n.py", 0)], [("n.py", 4)], []], pages
            # with the declaration (LSP's includeDeclaration): its name first, where the buffer has it
            pages = [[(x.kind, x.location.path, x.location.range.start.line, x.location.range.start.character,
                       x.location.range.end.character) for x in c.references(
                          "mv", "m.py", 8, 12, text=buf, limit=2, offset=k, include_declaration=True).locations]
                     for k in (0, 2)]
            call = lines[8].index("helper")
            assert pages == [[("definition", "m.py", 3, 4, 10), ("calls", "m.py", 8, call, call + 6)],
                             [("calls", "m.py", 12, lines[12].index("helper"), lines[12].index("helper") + 6),
                              ("imports", "n.py", 0, 14, 20)]], pages
            # a definition the buffer deleted is nowhere, not where other code took its lines
            gone = buf.replace("def gone():\n    return 0\n", "").replace("return helper()", "return gone()")
            d = c.definition("mv", "m.py", 8, 12, text=gone)
            assert list(d.locations) == [], gone.split("\n")[8]
            # without the buffer: the index's places, gone()'s call included
            refs = c.references("mv", "m.py", 0, 5)
            assert {(x.location.path, x.location.range.start.line) for x in refs.locations if x.kind == "calls"} == {
                ("m.py", 5), ("m.py", 9), ("m.py", 14), ("n.py", 4)}
    finally:
        s.stop()


def test_repositories_index_status_and_search(server, repo, tmp_path):
    other = tmp_path / "other"
    write_tree(other, {"a.py": "def alpha_beta():\n    return 1\n"})
    with server.client() as c:
        r = c.add_repository(str(other))
        assert (r.id, r.root) == ("other", str(other.resolve()))
        assert {x.id for x in c.list_repositories()} == {"proj", "other"}
        assert c.status("other").state == "not-indexed"
        stages = [p.stage for p in c.index("other")]
        assert stages[-1] == "done" and "parse" in stages
        st = c.status("other")
        assert (st.state, st.files, st.symbols) == ("fresh", 1, 1) and st.graph_nodes >= 2
        hits = c.search("other", "alpha beta", mode="lexical")
        assert [(h.path, h.symbol) for h in hits.hits] == [("a.py", "alpha_beta")]
        assert hits.snapshot.stamp
        hybrid = c.search("other", "`alpha_beta`", files=True)  # no vectors: the other signals, fused
        assert [f.path for f in hybrid.files] == ["a.py"]
        assert {s.signal for s in hybrid.files[0].signals} >= {"lexical", "symbol"}
        b = c.bundle("other", "what does alpha_beta return", budget_tokens=200)
        assert [(u.path, u.start_line, u.end_line) for u in b.units] == [("a.py", 1, 2)]
        assert "return 1" in b.units[0].text and "a.py:1-2" in b.text
        assert 0 < b.tokens <= 200 and b.budget_tokens == 200 and b.tokenizer
        assert b.snapshot.stamp == hits.snapshot.stamp and b.snapshot.stamp in b.text
        c.remove_repository("other")
        assert [x.id for x in c.list_repositories()] == ["proj"]


def test_errors_map_to_status_codes(server, repo):
    with server.client() as c:
        cases = [
            (lambda: c.definition("nope", "main.py", 0, 0), grpc.StatusCode.NOT_FOUND, "no repository 'nope'"),
            (lambda: c.definition("proj", "../outside.py", 0, 0), grpc.StatusCode.PERMISSION_DENIED, "outside"),
            (lambda: c.definition("proj", "/etc/passwd", 0, 0), grpc.StatusCode.PERMISSION_DENIED, "outside"),
            (lambda: c.definition("proj", "main.py", 500, 0), grpc.StatusCode.INVALID_ARGUMENT, "lines"),
            (lambda: c.definition("proj", "", 0, 0), grpc.StatusCode.INVALID_ARGUMENT, "path is required"),
            (lambda: c.references("proj", "main.py", 6, 4, limit=10**6), grpc.StatusCode.INVALID_ARGUMENT, "limit"),
            (lambda: c.search("proj", ""), grpc.StatusCode.INVALID_ARGUMENT, "query"),
            (lambda: c.bundle("proj", "x", budget_tokens=10), grpc.StatusCode.INVALID_ARGUMENT, "budget_tokens"),
            (lambda: c.bundle("proj", " "), grpc.StatusCode.INVALID_ARGUMENT, "query"),
            (lambda: list(c.ask("proj", " ")), grpc.StatusCode.INVALID_ARGUMENT, "question"),
            (lambda: list(c.ask("proj", "why?", max_tokens=100_001)), grpc.StatusCode.INVALID_ARGUMENT,
             "max_tokens 100001 is above the maximum 100000"),
            (lambda: c.assistant.Edit(assistant_pb2.EditRequest(repository="proj", instruction="")),
             grpc.StatusCode.INVALID_ARGUMENT, "instruction"),
            (lambda: c.add_repository(str(repo / "nowhere")), grpc.StatusCode.INVALID_ARGUMENT, "does not exist"),
            (lambda: c.add_repository("/etc"), grpc.StatusCode.PERMISSION_DENIED, "--allow-root"),
            (lambda: c.add_repository("relative/dir"), grpc.StatusCode.INVALID_ARGUMENT, "absolute path"),
            (lambda: c.add_repository("/tmp/\0x"), grpc.StatusCode.INVALID_ARGUMENT, "path is required"),
            (lambda: c.definition("proj", "main.py", 0, 0, encoding=7), grpc.StatusCode.INVALID_ARGUMENT, "encoding"),
            (lambda: c.definition("proj", "main.py", 40, 0, text="x = 1\n"), grpc.StatusCode.INVALID_ARGUMENT,
             "past the end"),
            (lambda: c.document_symbols("proj", ".git/config"), grpc.StatusCode.INVALID_ARGUMENT, "not an indexed"),
        ]
        for call, code, text in cases:
            with pytest.raises(grpc.RpcError) as exc:
                call()
            assert exc.value.code() == code, (text, exc.value.details())
            assert text in exc.value.details()
    (repo / "escape.py").symlink_to("/etc/hostname")
    with server.client() as c, pytest.raises(grpc.RpcError) as exc:
        c.document_symbols("proj", "escape.py")
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_bytes_that_are_no_request_are_invalid_argument(server, caplog):
    """A string field that is not UTF-8, or bytes that are no protobuf message: INVALID_ARGUMENT
    (gRPC itself says UNKNOWN, and logs a traceback for each), and the server goes on."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, caplog.at_level("ERROR"):
        for method, data in (("/repoqa.v1.Retrieval/Search", b"\x0a\x04proj\x12\x03\xff\xfeA"),
                             ("/repoqa.v1.Navigation/Definition", b"\xff\xff\xff\xff"),
                             ("/repoqa.v1.Assistant/Ask", b"\x0a\x04proj\x12\x02\xc3\x28")):
            call = channel.unary_stream(method) if method.endswith("/Ask") else channel.unary_unary(method)
            with pytest.raises(grpc.RpcError) as exc:
                reply = call(data, timeout=10)
                list(reply) if method.endswith("/Ask") else reply
            assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, exc.value.details())
            assert exc.value.details().startswith("malformed request"), exc.value.details()
    assert not [r for r in caplog.records if r.exc_info], "a malformed request is no server error"
    with server.client() as c:
        assert c.search("proj", "helper").hits


def test_unexpected_errors_are_internal_and_logged_once(repo, caplog):
    def broken(store, meta, root, mode):
        raise KeyError("surprise")

    s = Server([repo], searcher_for=broken)
    try:
        with s.client() as c, pytest.raises(grpc.RpcError) as exc, caplog.at_level("ERROR"):
            c.search("proj", "anything")
        assert exc.value.code() == grpc.StatusCode.INTERNAL
        assert "surprise" not in exc.value.details()
        logged = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(logged) == 1 and "KeyError" in logged[0].exc_text
    finally:
        s.stop()


def test_token_health_and_reflection(repo):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    s = Server([repo], token=TOKEN)
    try:
        with s.client() as c, pytest.raises(grpc.RpcError) as exc:
            c.list_repositories()
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with s.client(token="wrong") as c, pytest.raises(grpc.RpcError) as exc:
            list(c.index("proj"))
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with s.client(token=TOKEN) as c:
            assert [r.id for r in c.list_repositories()] == ["proj"]
            health = health_pb2_grpc.HealthStub(c.channel)
            for name in ("", "repoqa.v1.Navigation"):
                assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == \
                    health_pb2.HealthCheckResponse.SERVING
            refl = reflection_pb2_grpc.ServerReflectionStub(c.channel)
            reply = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
            names = {x.name for x in reply.list_services_response.service}
            assert {"repoqa.v1.Navigation", "repoqa.v1.Repositories", "repoqa.v1.Retrieval",
                    "repoqa.v1.Assistant", "grpc.health.v1.Health"} <= names
    finally:
        s.stop()
    with pytest.raises(Exception, match="without a token"):
        build_server(ServerOptions(host="0.0.0.0", port=0), Registry(index_options), searcher_for=None)


def test_deadline_cancellation_and_queries_racing_an_update(server, repo):
    for i in range(300):
        write_tree(repo, {f"gen/m{i:03}.py": "".join(f"def f{j}():\n    return {j}\n" for j in range(40))})
    with server.client() as c:
        with pytest.raises(grpc.RpcError) as exc:
            list(c.index("proj", timeout=0.2))
        assert exc.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        time.sleep(0.5)  # the cancelled update rolled back: the index holds what it held
        assert c.status("proj").files == 7
        calls = c.index("proj")
        next(calls)
        calls.cancel()
        # That update may have finished before the cancel came (300 small files can take 0.3 s):
        # new contents make the update the queries race below parse every file either way.
        time.sleep(0.5)
        for i in range(300):
            write_tree(repo, {f"gen/m{i:03}.py": "".join(f"def g{j}():\n    return {j}\n" for j in range(40))})
        # Queries race a full update and each sees one consistent state.
        errors = []
        stop = threading.Event()

        def query():
            with server.client() as q:
                while not stop.is_set():
                    try:
                        d = q.definition("proj", "main.py", 6, 4)
                        assert [x.symbol for x in d.locations] == ["helper"]
                    except Exception as e:  # noqa: BLE001 -- collected for the assertion
                        errors.append(e)

        threads = [threading.Thread(target=query) for _ in range(3)]
        for t in threads:
            t.start()
        for p in c.index("proj"):
            last = p
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert last.summary.files_parsed >= 300
        assert c.status("proj").files == 307


def test_repoqa_serve_command_with_watch(repo):
    import re
    import signal
    import subprocess
    import sys

    from conftest import ROOT, repoqa

    from indexer.update import index_dir_for
    from indexer.watch import read_state

    twin = repo.parent / "b" / "proj"  # another repository in a directory of the same name
    write_tree(twin, {"t.py": "def twin():\n    pass\n"})
    res = repoqa("serve", "--port", "0", "--repo", str(repo), "--repo", str(twin))
    assert res.returncode == 1 and "already names" in res.stderr and "--repo ID=PATH" in res.stderr
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", "0", "--repo", str(repo),
                             "--repo", f"twin={twin}", "--watch", "--no-embed", "--allow-root", str(repo.parent)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        m = re.match(r"repoqa serving 2 repositories on 127\.0\.0\.1:(\d+) \(plaintext, watching\)", line)
        assert m, line
        with Client(f"127.0.0.1:{m[1]}") as c:
            assert sorted((r.id, r.root) for r in c.list_repositories()) == [("proj", str(repo)), ("twin", str(twin))]
            write_tree(repo, {"main.py": RULES["main.py"] + "\ndef served_fresh():\n    run()\n"})
            deadline = time.monotonic() + 20
            while True:  # the watcher inside the server follows the edit
                syms = [s.qualname for s in c.document_symbols("proj", "main.py").symbols]
                if "served_fresh" in syms and c.incoming_calls("proj", "main.py", 4, 4).calls:
                    break
                assert time.monotonic() < deadline, syms
                time.sleep(0.1)
            assert {x.item.qualname for x in c.incoming_calls("proj", "main.py", 4, 4).calls} == {"served_fresh"}

            # A repository a client adds is watched too: indexed without asking, then kept fresh
            third = repo.parent / "third"
            write_tree(third, {"lib.py": "def added_later():\n    pass\n"})
            c.add_repository(str(third), "third")

            def third_symbols():
                try:
                    return {s.qualname for s in c.document_symbols("third", "lib.py").symbols}
                except grpc.RpcError:  # not indexed yet
                    return set()

            deadline = time.monotonic() + 20
            while "added_later" not in third_symbols():
                assert time.monotonic() < deadline
                time.sleep(0.1)
            write_tree(third, {"lib.py": "def edited_after_adding():\n    pass\n"})
            while "edited_after_adding" not in third_symbols():
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert c.status("third").watcher_pid == proc.pid
            c.remove_repository("third")  # ... and let go of when removed
            assert read_state(index_dir_for(third)) is None
            assert read_state(index_dir_for(repo))["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped serving." in err
    res = repoqa("serve", "--host", "0.0.0.0", "--port", "0", "--repo", str(repo))
    assert res.returncode == 1 and "without a token" in res.stderr
    res = repoqa("serve", "--port", "0", "--repo", str(repo), "--no-embed")
    assert res.returncode == 2 and "--no-embed goes with --watch" in res.stderr


def test_tls(repo, tmp_path):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to test TLS with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    s = Server.__new__(Server)
    s.registry = Registry(index_options)
    s.registry.add(repo, trusted=True)
    s.loop = asyncio.new_event_loop()
    ready = threading.Event()

    def main():
        asyncio.set_event_loop(s.loop)

        async def start():
            s.server, s.port, _ = await start_server(ServerOptions(port=0, tls_cert=cert, tls_key=key, grace_s=0.5),
                                                     s.registry, searcher_for=None)
            ready.set()
            await s.server.wait_for_termination()

        s.loop.run_until_complete(start())

    s.thread = threading.Thread(target=main, daemon=True)
    s.thread.start()
    assert ready.wait(20)
    try:
        with Client(f"127.0.0.1:{s.port}", root_certificates=cert.read_bytes()) as c:
            assert [r.id for r in c.list_repositories()] == ["proj"]
        with Client(f"127.0.0.1:{s.port}", timeout=3) as plain, pytest.raises(grpc.RpcError):
            plain.list_repositories()  # plaintext to a TLS port fails
    finally:
        s.stop()
    # a file that is no certificate, or a key that is not the certificate's: said so, not "cannot listen"
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True)
    secret = tmp_path / "secret.pem"  # an encrypted key: refused by name, no passphrase asked for
    subprocess.run(["openssl", "genrsa", "-aes128", "-passout", "pass:x", "-out", str(secret), "2048"], check=True,
                   capture_output=True)
    for bad_cert, bad_key in ((key, key), (cert, other), (cert, secret)):
        with pytest.raises(ServiceError, match="cannot use the TLS certificate"):
            asyncio.run(start_server(ServerOptions(port=0, tls_cert=bad_cert, tls_key=bad_key), s.registry,
                                     searcher_for=None))
    # a 1024-bit key, which gRPC serves with, passes the check
    small_cert, small_key = tmp_path / "small.pem", tmp_path / "small-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", str(small_key), "-out",
                    str(small_cert), "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)

    async def bind_and_stop():
        server, port, _ = await start_server(ServerOptions(port=0, tls_cert=small_cert, tls_key=small_key),
                                             s.registry, searcher_for=None)
        await server.stop(0)
        return port

    assert asyncio.run(bind_and_stop()) > 0


def test_an_index_built_with_other_options_is_refused(repo):
    from graph.build import GraphIndex
    from indexer.options import IndexOptions
    from indexer.update import update_index

    update_index(repo, IndexOptions(workers=1, chunk_max_tokens=100), derived=[GraphIndex()])
    s = Server([repo])
    try:
        with s.client() as c, pytest.raises(grpc.RpcError) as exc:
            c.definition("proj", "main.py", 6, 4)
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "other options" in exc.value.details()
    finally:
        s.stop()


def test_dense_search_through_the_server_reads_the_vectors_indexing_wrote_since(tmp_path):
    """The server reads an index's vectors once and keeps them open for the next searches;
    vectors written since (an index run beside it) are read at the next search."""
    from conftest import repoqa

    root = tmp_path / "vec"
    write_tree(root, {"http.py": "def retry_after_server_error(status):\n    return status >= 500\n",
                      "words.py": "def join_words(words):\n    return ' '.join(words)\n"})
    repoqa("index", str(root), check=True)
    from service.cli import _server_searcher

    serving, lent = _server_searcher(), []

    def searcher_for(*args):
        searcher = serving(*args)
        lent.append(searcher.vstore)
        return searcher

    s = Server([root], allowed=[tmp_path], searcher_for=searcher_for)
    try:
        with s.client() as c:
            question = "parse a calendar date written in ISO format"
            first = [h.symbol for h in c.search("vec", question, mode="dense", limit=5).hits]
            assert first and "parse_iso_date" not in first
            assert [h.symbol for h in c.search("vec", question, mode="dense", limit=5).hits] == first
            assert lent[0]._store is lent[1]._store  # read once, kept for the next call
            write_tree(root, {"dates.py": "def parse_iso_date(text):\n    year, month, day = text.split('-')\n"
                                          "    return int(year), int(month), int(day)\n"})
            repoqa("index", str(root), check=True)
            assert c.search("vec", question, mode="dense", limit=5).hits[0].symbol == "parse_iso_date"
            assert c.search("vec", question, mode="hybrid", limit=5).hits[0].symbol == "parse_iso_date"
            assert lent[2]._store is not lent[1]._store and lent[3]._store is lent[2]._store
    finally:
        s.stop()
