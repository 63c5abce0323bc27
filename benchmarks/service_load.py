"""Load on the gRPC server: throughput, latency and errors under concurrent clients, and what
the gRPC layer adds to a navigation call.

    python -m benchmarks.service_load --repo PATH [--seconds 20] [--clients 1,8,32] [--seed 1]

Runs on an indexed repository (it does not index: `repoqa index PATH` first) and never
writes to it:
- starts the real server as a subprocess (`python -m service.cli serve --port 0 --repo PATH`,
  loopback, plaintext), reads its port from the ready line, and stops it with SIGTERM at the
  end (it must exit 0);
- builds a request mix from the index: go-to-definition at real reference sites (refs rows
  that the graph resolves), find-references at definitions (symbols rows), and lexical
  searches made of symbol names and the words in them; Bundle joins the mix only when the
  server implements it (probed once; UNIMPLEMENTED is reported as such, not as errors);
- for each concurrency level, that many client processes (each with its own channel) call
  the server in a closed loop for `--seconds`: per call type, calls/s, p50/p99 latency,
  answers that came back empty, and errors by status code (the goal is none), with the CPU
  the server and the clients used (they share the machine's cores);
- the gRPC layer's cost: in this process, the same work the servicer runs (service/rpc.py's
  `_Query` and `_targets`, then the same conversions, on a fresh read connection per call)
  against the same request through the client, interleaved, for definition and references;
  p50 of each and the difference (the goal is under 2 ms), and whether the answers are equal.
Prints a table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import psutil

from benchmarks.common import PROJECT, latency_ms, write_result
from service.client import UTF8, Client

_READY = re.compile(r"repoqa serving .* on (?P<host>\S+):(?P<port>\d+) ")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\b|_|\d)|[A-Z]?[a-z]+|[A-Z]+")
KINDS = ("definition", "references", "search", "bundle")
WEIGHTS = {"definition": 4, "references": 3, "search": 3, "bundle": 1}  # an editor navigates more than it searches


# -- the request mix ------------------------------------------------------------------------


def request_mix(root: Path, n: int, rng: random.Random) -> dict[str, list[tuple]]:
    """`n` requests of each kind, drawn from the index: (path, line0, byte_col0) for
    navigation, (query,) for search and bundle."""
    conn = sqlite3.connect(f"file:{root / '.repoqa' / 'index.db'}?mode=ro", uri=True)
    try:
        # References the graph links to something: go-to-definition there has an answer
        # (a site linking nothing would only fall back to the enclosing definition).
        ref_ids = [r for (r,) in conn.execute(
            "SELECT r.id FROM refs r WHERE EXISTS (SELECT 1 FROM graph_edges e WHERE e.ref = r.id "
            "AND e.kind != 'tests') ORDER BY r.id")]
        ref_ids = rng.sample(ref_ids, min(n, len(ref_ids)))
        definition = _rows(conn, "SELECT f.path, r.line - 1, r.col FROM refs r JOIN files f ON f.id = r.file_id "
                                 "WHERE r.id IN ({})", ref_ids)
        sym_ids = [s for (s,) in conn.execute(
            "SELECT s.id FROM symbols s JOIN files f ON f.id = s.file_id WHERE f.skip_reason = '' "
            "AND EXISTS (SELECT 1 FROM graph_nodes g WHERE g.file_id = s.file_id AND g.qualname = s.qualname) "
            "ORDER BY s.id")]
        sym_ids = rng.sample(sym_ids, min(n, len(sym_ids)))
        references = _rows(conn, "SELECT f.path, s.start_line - 1, s.start_col FROM symbols s "
                                 "JOIN files f ON f.id = s.file_id WHERE s.id IN ({})", sym_ids)
        names = [x for (x,) in conn.execute("SELECT DISTINCT name FROM symbols ORDER BY name") if len(x) > 2]
    finally:
        conn.close()
    search = []
    for _ in range(n):
        picked = rng.sample(names, 2)
        if rng.random() < 0.4:  # an identifier as typed
            search.append((picked[0],))
        else:  # a few words, as a question would use them
            words = [w.lower() for name in picked for w in _WORDS.findall(name) if len(w) > 2]
            search.append((" ".join(rng.sample(words, min(3, len(words)))) or picked[0],))
    # Sorted before shuffling: IN (...) gives SQLite's order, the mix must follow only the seed.
    mix = {"definition": sorted(definition), "references": sorted(references), "search": search}
    for v in mix.values():
        rng.shuffle(v)
    mix["bundle"] = mix["search"]
    return mix


def _rows(conn: sqlite3.Connection, sql: str, ids: list[int]) -> list[tuple]:
    out = []
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        out += conn.execute(sql.format(",".join("?" * len(part))), part).fetchall()
    return out


def _call(client: Client, repo_id: str, kind: str, args: tuple) -> int:
    """One call; the number of answers it returned."""
    if kind == "definition":
        return len(client.definition(repo_id, *args, encoding=UTF8).locations)
    if kind == "references":
        return len(client.references(repo_id, *args, encoding=UTF8).locations)
    if kind == "search":
        return len(client.search(repo_id, args[0], mode="lexical").hits)
    return len(client.bundle(repo_id, args[0]).SerializeToString())


# -- the server -----------------------------------------------------------------------------


class ServerProcess:
    """`repoqa serve` in a subprocess on a free loopback port; its stderr kept for the report."""

    def __init__(self, root: Path, timeout: float = 120.0):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--repo", str(root)],
            cwd=PROJECT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        deadline = time.monotonic() + timeout
        self.port = 0
        # readline blocks, but the server prints its ready line or dies (EOF) soon after starting.
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.stderr.append(line.rstrip("\n"))
            m = _READY.search(line)
            if m:
                self.port = int(m["port"])
                break
        if not self.port:
            self.proc.kill()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.stderr))
        self.target = f"127.0.0.1:{self.port}"
        # Keep draining stderr: a full pipe would block the server's logging.
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def stop(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._drain.join(5)
        return rc


def probe_bundle(target: str, repo_id: str, query: str) -> str:
    """"implemented", "unimplemented", or the status code another failure returned."""
    with Client(target) as c:
        try:
            c.bundle(repo_id, query)
        except grpc.RpcError as exc:
            return "unimplemented" if exc.code() == grpc.StatusCode.UNIMPLEMENTED else exc.code().name
    return "implemented"


# -- the load -------------------------------------------------------------------------------


def _client(index: int, target: str, repo_id: str, mix: dict[str, list[tuple]], weights: dict[str, int],
            seed: int, seconds: float, ready, go, start_at, out) -> None:
    """One client process: its own channel, calls in a closed loop until the deadline."""
    rng = random.Random(seed * 1000 + index)
    kinds, shares = list(weights), list(weights.values())
    pos = {k: rng.randrange(len(mix[k])) for k in kinds}  # each client walks the mix from its own place
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    errors: dict[str, Counter] = {k: Counter() for k in kinds}
    empty = Counter()
    last = 0.0
    with Client(target) as client:
        _call(client, repo_id, "definition", mix["definition"][pos["definition"]])  # connect before the clock starts
        ready.put(index)
        go.wait()
        deadline = start_at.value + seconds
        cpu0 = time.process_time()
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, shares)[0]
            args = mix[kind][pos[kind] % len(mix[kind])]
            pos[kind] += 1
            t = time.perf_counter()
            try:
                n = _call(client, repo_id, kind, args)
                lat[kind].append(time.perf_counter() - t)
                empty[kind] += n == 0
            except grpc.RpcError as exc:
                errors[kind][exc.code().name] += 1
            last = time.monotonic()
        cpu = time.process_time() - cpu0
    out.put({"index": index, "lat": lat, "errors": {k: dict(v) for k, v in errors.items()}, "empty": dict(empty),
             "last": last, "cpu_s": cpu})


def load(target: str, repo_id: str, mix: dict[str, list[tuple]], weights: dict[str, int], clients: int,
         seconds: float, seed: int, server_pid: int) -> dict:
    # spawn, not fork: this process has used gRPC, and a forked gRPC runtime is unsafe.
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_client, args=(i, target, repo_id, mix, weights, seed, seconds, ready, go,
                                                start_at, out), daemon=True) for i in range(clients)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    server = psutil.Process(server_pid)
    cpu0 = sum(server.cpu_times()[:2])
    start_at.value = time.monotonic() + 0.05
    go.set()
    results = [out.get(timeout=seconds + 300) for _ in procs]  # before join: a full queue blocks its writer
    server_cpu = sum(server.cpu_times()[:2]) - cpu0
    for p in procs:
        p.join(30)
    elapsed = max(r["last"] for r in results) - start_at.value
    per_kind = {}
    total = 0
    for kind in weights:
        lat = [x for r in results for x in r["lat"][kind]]
        errs = Counter()
        for r in results:
            errs.update(r["errors"][kind])
        total += len(lat) + sum(errs.values())
        per_kind[kind] = {"calls_per_s": round(len(lat) / elapsed, 1), **latency_ms(lat),
                          "empty": sum(r["empty"].get(kind, 0) for r in results),
                          "errors": sum(errs.values()), "error_codes": dict(errs)}
    return {"clients": clients, "seconds": round(elapsed, 2), "calls": total,
            "calls_per_s": round(total / elapsed, 1),
            "all": latency_ms([x for r in results for k in weights for x in r["lat"][k]]),
            "kinds": per_kind,
            "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
            "clients_cpu_pct": round(100 * sum(r["cpu_s"] for r in results) / elapsed, 1)}


# -- what gRPC adds -------------------------------------------------------------------------


def overhead(root: Path, target: str, repo_id: str, mix: dict[str, list[tuple]], n: int) -> dict:
    """The servicer's work called here, against the same request through the client."""
    # Imported here, not at the top: every client process imports this module, and needs none of it.
    from repoqa.v1 import common_pb2 as common
    from repoqa.v1 import navigation_pb2 as nav

    from service import convert
    from service.config import index_options
    from service.rpc import Registry, _Query, _targets, relative_path

    entry = Registry(index_options).add(root, repo_id, trusted=True)

    def request(path: str, line: int, col: int) -> nav.ReferencesRequest:
        return nav.ReferencesRequest(repository=repo_id, document=common.TextDocument(path=path),
                                     position=common.Position(line=line, character=col), encoding=UTF8)

    # The bodies of NavigationServicer.Definition and .References (service/rpc.py), minus the RPC.
    def definition(path: str, line: int, col: int) -> nav.LocationsResponse:
        req = request(path, line, col)
        rel = relative_path(entry.root, req.document)
        with _Query(entry, threading.Event()) as q:
            nodes = _targets(q, rel, req, None, exact=True)
            locs = [convert.definition_location(entry.root, q.lines, x, 1.0, "resolved", req.encoding)
                    for x in nodes]
            return nav.LocationsResponse(locations=locs, snapshot=q.snapshot())

    def references(path: str, line: int, col: int) -> nav.LocationsResponse:
        req = request(path, line, col)
        rel = relative_path(entry.root, req.document)
        with _Query(entry, threading.Event()) as q:
            nodes = _targets(q, rel, req, None)
            locs = q.graph.references(nodes, limit=100, offset=0) if nodes else []
            lines = convert.Lines(entry.root)
            out = [convert.symbol_location(entry.root, lines, loc, req.encoding,
                                           len(loc.target.rsplit(".", 1)[-1].encode())) for loc in locs]
            return nav.LocationsResponse(locations=out, snapshot=q.snapshot())

    result = {}
    with Client(target) as client:
        remote = {"definition": lambda *a: client.definition(repo_id, *a, encoding=UTF8),
                  "references": lambda *a: client.references(repo_id, *a, encoding=UTF8)}
        local = {"definition": definition, "references": references}
        for kind in ("definition", "references"):
            sites = mix[kind][:n]
            for args in sites[:20]:  # warm both paths (page cache, channel, first imports)
                local[kind](*args)
                remote[kind](*args)
            times: dict[str, list[float]] = {"in_process": [], "grpc": []}
            diffs: list[float] = []
            unequal = 0
            for i, args in enumerate(sites):
                # Alternate which goes first, so neither always finds the caches the other warmed.
                order = (("in_process", local[kind]), ("grpc", remote[kind]))
                answers, took = {}, {}
                for label, fn in (order if i % 2 == 0 else order[::-1]):
                    t = time.perf_counter()
                    answers[label] = fn(*args)
                    took[label] = time.perf_counter() - t
                    times[label].append(took[label])
                diffs.append(took["grpc"] - took["in_process"])
                unequal += answers["in_process"] != answers["grpc"]
            a, b = latency_ms(times["in_process"]), latency_ms(times["grpc"])
            result[kind] = {"in_process": a, "grpc": b, "p50_difference_ms": round(b["p50_ms"] - a["p50_ms"], 3),
                            "paired_difference": latency_ms(diffs), "answers_unequal": unequal}
    return result


# -- the report -----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=20.0, help="per concurrency level")
    ap.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    ap.add_argument("--requests", type=int, default=2000, help="distinct requests of each kind in the mix")
    ap.add_argument("--overhead-calls", type=int, default=300, help="paired calls per kind for the gRPC cost")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    root = args.repo.resolve()
    levels = [int(x) for x in args.clients.split(",") if x.strip()]
    rng = random.Random(args.seed)
    repo_id = root.name
    mix = request_mix(root, args.requests, rng)
    server = ServerProcess(root)
    try:
        bundle = probe_bundle(server.target, repo_id, mix["search"][0][0])
        weights = {k: w for k, w in WEIGHTS.items() if k != "bundle" or bundle == "implemented"}
        result = {"repo": root.name, "cpus": os.cpu_count(), "grpc": grpc.__version__,
                  "mix": {k: len(mix[k]) for k in weights}, "weights": weights, "bundle": bundle,
                  "seconds_per_level": args.seconds}
        result["overhead"] = overhead(root, server.target, repo_id, mix, args.overhead_calls)
        result["levels"] = [load(server.target, repo_id, mix, weights, c, args.seconds, args.seed, server.proc.pid)
                            for c in levels]
    finally:
        rc = server.stop()
    logged = [x for x in server.stderr if x.startswith(("ERROR", "CRITICAL", "Traceback"))]
    ready_line = next((x for x in server.stderr if _READY.search(x)), "")
    result["server"] = {"exit_code": rc, "ready_line": ready_line,
                        "errors_logged": len(logged), "first_errors": logged[:5]}
    out = write_result("service_load", root, result, args.out)

    print(f"{root.name}: {args.seconds:g} s per level, {os.cpu_count()} CPUs, mix "
          + ", ".join(f"{k} x{w}" for k, w in weights.items()) + f"; bundle: {bundle}")
    print(f"  {'clients':>7} {'call':<11} {'calls/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'empty':>6} {'errors':>6}")  # empty: answers with no location or hit
    for lv in result["levels"]:
        for kind, k in lv["kinds"].items():
            codes = f"  {k['error_codes']}" if k["errors"] else ""
            print(f"  {lv['clients']:>7} {kind:<11} {k['calls_per_s']:>8.1f} {k['p50_ms']:>8.2f} {k['p99_ms']:>8.2f} "
                  f"{k['max_ms']:>8.1f} {k['empty'] / max(k['n'], 1):>6.0%} {k['errors']:>6}{codes}")
        a = lv["all"]
        print(f"  {lv['clients']:>7} {'all':<11} {lv['calls_per_s']:>8.1f} {a['p50_ms']:>8.2f} {a['p99_ms']:>8.2f} "
              f"{a['max_ms']:>8.1f}   (server CPU {lv['server_cpu_pct']:.0f}%, clients CPU "
              f"{lv['clients_cpu_pct']:.0f}%)")
    for kind, o in result["overhead"].items():
        print(f"  gRPC cost, {kind:<11} in process p50 {o['in_process']['p50_ms']:.2f} ms, through the client "
              f"p50 {o['grpc']['p50_ms']:.2f} ms: +{o['p50_difference_ms']:.2f} ms "
              f"(paired p50 +{o['paired_difference']['p50_ms']:.2f} ms; {o['answers_unequal']} answers unequal)")
    s = result["server"]
    print(f"  server exit code {s['exit_code']} after SIGTERM; {s['errors_logged']} errors logged")
    print(f"  wrote {out}")


if __name__ == "__main__":
    main()
