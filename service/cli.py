"""The `repoqa` command line: index, status and search a repository, and ask its graph."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from indexer.errors import IndexerError
from indexer.openmp import passive_waits
from indexer.text import split_lines, valid_text

log = logging.getLogger("repoqa")


class _Group(click.Group):
    """Turns domain errors into `Error: message` and exit status 1 (usage errors stay 2)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except IndexerError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted; the index keeps its last complete state.", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--repo", "repo", type=click.Path(path_type=Path), default=None,
              help="The repository to work on (default: the one containing the current directory).")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.version_option(package_name="repoqa")
@click.pass_context
def cli(ctx: click.Context, repo: Path | None, verbose: int) -> None:
    """repoqa: ask questions about a whole repository."""
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"repo": repo}


def _root(ctx: click.Context, path: Path | None = None, *, reads: bool = False) -> Path:
    """The repository to work on: PATH or --repo as given, else the one containing the cwd.
    For a command that `reads` an index, a directory given stands for the repository
    containing it, as the cwd does (`--repo src/pkg` searches the repository's index);
    `index`, `watch` and `serve` take a directory as given."""
    from indexer.scan import checked_root, find_root, indexed_root

    given = path or ctx.obj.get("repo")
    if given is None:
        return find_root(Path.cwd())
    if reads:
        return find_root(given)
    root = checked_root(given)
    outer = indexed_root(root)
    if outer is not None and outer != root:
        click.echo(f"Warning: {root} is inside the repository indexed at {outer}; this gives it an index "
                   "of its own, which commands run inside it will use", err=True)
    return root


def _valid_text(_ctx, _param, value: str) -> str:
    """An argument as text: bytes of the command line that are not UTF-8 (Python keeps them
    as lone surrogates, which no tokenizer or database takes) become U+FFFD."""
    return valid_text(value)


def _question(_ctx, _param, value: str) -> str:
    """A question, instruction or query as text (see `_valid_text`); `-` reads it from
    stdin, for text too long for a command line (Linux caps one argument at 128 KiB) or
    piped from another tool. Bytes there that are not UTF-8 become U+FFFD too."""
    if value == "-":
        if sys.stdin is None:
            raise click.BadParameter("`-` reads it from stdin, and stdin is closed", param=_param)
        if sys.stdin.isatty():
            click.echo("Reading it from stdin; end with Ctrl-D.", err=True)
        value = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    return valid_text(value)


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _progress_bar(enabled: bool) -> tuple[Callable[[str, int, int], None] | None, Callable[[], None]]:
    """A rich progress bar on a terminal, drawn without a background thread (the parser
    forks workers, and forking beside a live thread is unsafe)."""
    if not enabled:
        return None, lambda: None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), auto_refresh=False, transient=True, console=None)
    tasks: dict[str, int] = {}
    last = [0.0]
    started = [False]

    def update(stage: str, done: int, total: int) -> None:
        if not started[0]:
            bar.start()
            started[0] = True
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total or None)
        bar.update(tasks[stage], completed=done, total=total or None)
        now = time.monotonic()
        if now - last[0] > 0.1 or done == total:
            last[0] = now
            bar.refresh()

    def stop() -> None:
        if started[0]:
            bar.stop()

    return update, stop


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--rebuild", is_flag=True, help="Rebuild the index from scratch.")
@click.option("--no-embed", is_flag=True, help="Only the structure index: no vectors this time.")
@click.option("--max-file-bytes", type=int, default=None, help="Skip files larger than this.")
@click.option("--workers", type=int, default=None, help="Parser processes (default: one per core).")
@click.option("--wait", type=click.FloatRange(0), default=10.0, show_default=True,
              help="Seconds to wait for another writer (a watcher's update) before giving up.")
@click.pass_context
def index(ctx: click.Context, path: Path | None, as_json: bool, rebuild: bool, no_embed: bool,
          max_file_bytes: int | None, workers: int | None, wait: float) -> None:
    """Index PATH (default: the current repository), re-parsing and re-embedding only what changed.

    The structure index (symbols, references, chunks, full text) is committed first and is
    searchable at once; the vectors fill in after it, with their own progress.
    """
    from graph.build import GraphIndex
    from indexer.update import update_index
    from service.config import index_options

    root = _root(ctx, path)
    options = index_options(root, overrides={"max_file_bytes": max_file_bytes, "workers": workers,
                                              "lock_timeout": wait})
    progress, stop = _progress_bar(not as_json and sys.stderr.isatty())
    try:
        summary = update_index(root, options, rebuild=rebuild, progress=progress, derived=[GraphIndex()])
        embedded = None if no_embed else _embed(root, progress, lock_timeout=wait)
    finally:
        stop()
    if as_json:
        out = summary.to_json()
        if embedded is not None:
            e = embedded.to_json()
            out.update({"chunks_embedded": e["chunks_embedded"], "chunks_reused": e["chunks_reused"],
                        "vectors": e["vectors"], "vector_model": e["model"], "vector_store": e["store"],
                        "vectors_dropped": e["vectors_dropped"], "windows_capped": e["windows_capped"],
                        "names_embedded": e["names_embedded"], "vectors_rebuilt": e["rebuilt"], "embed_seconds": e["seconds"],
                        "seconds": round(summary.seconds + e["seconds"], 3)})
        _echo_json(out)
        return
    if summary.rebuilt and summary.rebuilt != "new index":
        click.echo(f"Rebuilt the index: {summary.rebuilt}.", err=True)
    skipped = sum(summary.files_skipped.values())
    reasons = ", ".join(f"{k} {v:,}" for k, v in summary.files_skipped.items())
    click.echo(
        f"Indexed {summary.root} @ {summary.snapshot}: {summary.files_seen:,} files seen, "
        f"{summary.files_parsed:,} parsed, {summary.files_unchanged:,} unchanged, "
        f"{summary.files_removed:,} removed, {skipped:,} skipped{f' ({reasons})' if reasons else ''}; "
        f"{summary.symbols:,} symbols, {summary.references:,} references, {summary.chunks:,} chunks "
        f"in {summary.seconds:.2f} s")
    g = summary.derived.get("graph")
    if g and g["mode"] != "none":
        click.echo(f"Graph ({g['mode']}): {g['nodes']:,} nodes, {g['edges']:,} edges; {g['resolved']:,} "
                   f"references resolved, {g['name_only']:,} matched by name only, in {g['seconds']:.2f} s")
    if embedded is not None:
        if embedded.rebuilt:
            click.echo(f"Rebuilt the vectors: {embedded.rebuilt}.", err=True)
        click.echo(f"Embedded {embedded.chunks_embedded:,} chunks ({embedded.chunks_reused:,} reused, "
                   f"{embedded.vectors_dropped:,} stale vectors dropped) with {embedded.model} into "
                   f"{embedded.store}: {embedded.vectors:,} vectors in {embedded.seconds:.2f} s")
    if summary.warnings:
        click.echo("Warnings: " + ", ".join(f"{k} {v}" for k, v in summary.warnings.items()), err=True)


def _embed(root: Path, progress, lock_timeout: float = 0.0):
    from indexer.dense import embed_index
    from service.config import embed_options, vector_options
    from service.embedders import open_embedder

    embedder = open_embedder(embed_options(root))
    return embed_index(root, embedder, vector_options(root), progress=progress, lock_timeout=lock_timeout)


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
@click.pass_context
def status(ctx: click.Context, path: Path | None, as_json: bool) -> None:
    """Say what is indexed, from which commit, and whether the index is fresh."""
    from indexer.status import index_status
    from service.config import index_options

    root = _root(ctx, path, reads=True)
    st = index_status(root, index_options(root))
    graph = _graph_stats(root) if st.counts else None
    from indexer.update import index_dir_for
    from indexer.watch import read_state

    watcher = read_state(index_dir_for(root))
    if as_json:
        _echo_json({**st.to_json(), "graph": graph, "watcher": watcher})
        return
    state = {
        "fresh": "fresh",
        "stale": f"stale: {st.changed} changed, {st.added} added, {st.removed} removed since indexing "
                 "(run `repoqa index`)",
        "other-options": "built with other options (run `repoqa index` to rebuild)",
        "other-format": f"format {st.format_version}, this repoqa reads {st.current_format_version} "
                        "(run `repoqa index` to rebuild)",
    }[st.state]
    commit = st.commit[:12] if st.commit else "(no commit)"
    if st.dirty and st.commit:
        commit += " with uncommitted changes"
    lines = [
        f"Repository: {st.root}",
        f"Index:      {st.index} (format {st.format_version}), updated {st.updated_at}",
        f"Snapshot:   {commit}" + (f"; HEAD is now {st.head_now[:12]}"
                                   if st.head_now and st.head_now != st.commit else ""),
        f"State:      {state}",
    ]
    if st.writer_pid:
        lines.append(f"Writer:     pid {st.writer_pid} is updating the index now")
    if st.counts:
        c = st.counts
        lines.append(f"Contents:   {c['files']:,} files, {c['symbols']:,} symbols, "
                     f"{c['references']:,} references, {c['chunks']:,} chunks")
        lines.append("Languages:  " + ", ".join(f"{k} {v:,}" for k, v in st.languages.items()))
    if st.skipped:
        lines.append("Skipped:    " + ", ".join(f"{k} {v:,}" for k, v in st.skipped.items()))
    v = st.vectors
    if v:
        lines.append(f"Vectors:    {v['chunks_embedded']:,} of {v['chunks']:,} chunks embedded with {v['model']} "
                     f"(dim {v['dim']}), {v['vectors']:,} vectors in {v['store']}")
    elif st.counts:
        lines.append("Vectors:    none yet (run `repoqa index` without --no-embed)")
    if watcher:
        lines.append("Watcher:    " + _describe_watcher(watcher))
    if graph:
        kinds = ", ".join(f"{k} {v:,}" for k, v in graph["edges"].items())
        lines.append(f"Graph:      {graph['nodes']:,} nodes; edges: {kinds}; "
                     f"{graph['name_only_edges']:,} matched by name only")
    click.echo("\n".join(lines))


def _describe_watcher(w: dict) -> str:
    now = time.time_ns()
    parts = [f"pid {w['pid']}, {w.get('state', 'running')}"]
    if w.get("pending"):
        age = (now - w["oldest_pending_ns"]) / 1e9 if w.get("oldest_pending_ns") else 0.0
        parts.append(f"behind: {w['pending']} path(s) changed {age:.1f} s ago, not yet indexed")
    else:
        parts.append("up to date with the events it has seen")
    if w.get("last_update_ns"):
        parts.append(f"last update {(now - w['last_update_ns']) / 1e9:.1f} s ago")
    if w.get("last_error"):
        parts.append(f"last problem: {w['last_error']}")
    return "; ".join(parts)


def _graph_stats(root: Path) -> dict | None:
    from graph.errors import GraphNotBuilt
    from graph.query import Graph
    from indexer.errors import IndexNotFound

    try:
        with Graph.open(root) as g:
            return g.stats()
    except (GraphNotBuilt, IndexNotFound):
        return None


def _rerank_option(f):
    return click.option(
        "--rerank", type=click.IntRange(0, 100), default=0, metavar="N",
        help="Rerank the best N code units by how likely the configured model ([generator]) finds the "
             "question as each one's description (for questions that describe code, not bug reports). "
             "Slow on a CPU: 0.2-2 s a unit with the packaged model.")(f)


def _reranking(root: Path, searcher, depth: int, quiet: bool):
    """(searcher, the model that reranks for it, or None): a model opened only when `depth` asks."""
    if not depth:
        return searcher, None
    from dataclasses import replace

    from service.config import generator_options

    options = generator_options(root)
    if options.backend.strip().lower() == "vllm" and not options.base_url:
        raise click.ClickException("--rerank cannot use vLLM's engine in this process, which only generates: "
                                   "serve the model (`vllm serve MODEL`) and set generator.base_url, or use "
                                   "the local model")
    _, scorer = _open_model(root, None, None, None, None, quiet)
    if not callable(getattr(scorer, "loglikelihood", None)):
        scorer.close()
        raise click.ClickException(f"the {scorer.backend} generator cannot score text, which --rerank needs")
    return replace(searcher, scorer=scorer, rerank_depth=depth), scorer


@cli.command()
@click.argument("query", callback=_question)
@click.option("-k", "--limit", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="How many results.")
@click.option("--mode", type=click.Choice(["auto", "lexical", "dense", "hybrid"]), default="auto",
              show_default=True, help="auto: hybrid (every signal the index has); lexical and dense: one alone.")
@click.option("--files", "by_file", is_flag=True, help="Rank files instead of code units.")
@click.option("--explain", is_flag=True, help="Show which signals found each result, and their ranks.")
@click.option("--json", "as_json", is_flag=True, help="Print results as a JSON list.")
@_rerank_option
@click.pass_context
def search(ctx: click.Context, query: str, limit: int, mode: str, by_file: bool, explain: bool,
           as_json: bool, rerank: int) -> None:
    """Rank the code units (or files) for QUERY: BM25 over split identifiers, vectors, the
    names, paths, stack frames and messages it quotes, and the graph around them, fused.
    A QUERY of `-` is read from stdin."""
    from indexer.store import Store
    from indexer.update import index_dir_for

    if not query.strip():
        raise click.UsageError("the query is empty")
    root = _root(ctx, reads=True)
    if rerank and mode in ("lexical", "dense"):
        raise click.UsageError("--rerank reranks the hybrid ranking (--mode auto or hybrid)")
    store = Store.open_reader(index_dir_for(root))
    searcher = scorer = None
    try:
        meta = _check_compatible(store, root)
        searcher = _searcher(store, meta, root, mode)
        searcher, scorer = _reranking(root, searcher, rerank, as_json)
        mode = "hybrid" if mode == "auto" else mode
        if by_file:
            found = searcher.files(query, mode, k=limit)
        else:
            hits = searcher.search(query, mode, k=limit)
    finally:
        if scorer is not None:
            scorer.close()
        if searcher is not None and searcher.vstore is not None:
            searcher.vstore.close()
        store.close()
    if by_file:
        if as_json:
            _echo_json([{"path": f.path, "score": round(f.score, 6), "signals": f.ranks} for f in found])
        elif not found:
            click.echo("No matches.")
        for i, f in enumerate([] if as_json else found, 1):
            click.echo(f"{i:>2}. {f.path}  [{f.score:.4g}]" + (f"  {_explain(f.ranks)}" if explain else ""))
        return
    if as_json:
        _echo_json([{"path": h.path, "start_line": h.start_line, "end_line": h.end_line,
                     "symbol": h.symbol, "kind": h.kind, "score": h.score, "snippet": h.snippet,
                     "signals": h.ranks} for h in hits])
        return
    if not hits:
        click.echo("No matches.")
        return
    for i, h in enumerate(hits, 1):
        click.echo(f"{i:>2}. {h.path}:{h.start_line}-{h.end_line}  "
                   f"{click.style(h.symbol or '(top level)', bold=True)}  [{h.score:.4g}]")
        if explain:
            click.echo(f"    {_explain(h.ranks)}")
        for n, line in enumerate(split_lines(h.snippet), h.snippet_line):
            click.echo(f"    {n:>5} | {line[:160]}")


def _explain(ranks: dict[str, int]) -> str:
    from retrieval.search import FILE_SIGNALS, SIGNALS

    found = ", ".join(f"{name} #{ranks[name]}" for name in SIGNALS + FILE_SIGNALS + ("rerank",) if name in ranks)
    return f"found by: {found}" if found else "found by: -"


@cli.command()
@click.argument("query", callback=_question)
@click.option("--budget", type=click.IntRange(64, 2_000_000), default=None,
              help="Tokens the bundle may take (default: [bundle] budget, 8000).")
@click.option("--tokenizer", default=None,
              help="tokenizer.json (or a model folder) to count with (default: [bundle] tokenizer, else "
                   "the embedding model's).")
@click.option("--json", "as_json", is_flag=True, help="Print the bundle as one JSON object.")
@_rerank_option
@click.pass_context
def bundle(ctx: click.Context, query: str, budget: int | None, tokenizer: str | None, as_json: bool,
           rerank: int) -> None:
    """Print the context bundle a model reads for QUERY: a map of the relevant files, the code
    units with why each is there, the relationships between them, and the snapshot.
    A QUERY of `-` is read from stdin."""
    from retrieval.bundle import build_bundle
    from retrieval.tokens import counter_for
    from service.config import bundle_options

    if not query.strip():
        raise click.UsageError("the query is empty")
    root = _root(ctx, reads=True)
    opts = bundle_options(root, overrides={"budget": budget, "tokenizer": tokenizer})
    counter = counter_for(opts.tokenizer)
    # one committed state of the index for every part of the bundle

    def work(store, searcher):
        searcher, scorer = _reranking(root, searcher, rerank, as_json)
        try:
            return build_bundle(searcher, root, query, opts.budget, counter)
        finally:
            if scorer is not None:
                scorer.close()

    result = _with_index(root, work)
    if as_json:
        _echo_json(result.to_json())
        return
    click.echo(result.render(), nl=False)
    click.echo(f"({result.tokens} of {result.budget} tokens by {result.tokenizer}; {len(result.units)} units)",
               err=True)


def _searcher(store, meta: dict[str, str], root: Path, mode: str, opener=None, vectors=None):
    """A Searcher with the index's vectors when the mode needs them (or auto finds them);
    `opener` makes the query embedder (default: load the configured model), `vectors(options,
    index_dir, dim, version)` opens the vector store (default: open_vector_store)."""
    from indexer.errors import IndexMismatch
    from indexer.update import index_dir_for
    from indexer.vectors import open_vector_store
    from retrieval.search import Searcher
    from service.config import embed_options, vector_options

    has_vectors = bool(meta.get("vector_model")) and int(meta.get("vector_count", "0") or 0) > 0
    if mode == "lexical" or (mode in ("auto", "hybrid") and not has_vectors):
        return Searcher(store)  # hybrid fuses what the index has: vectors fill in later
    if not meta.get("vector_model"):
        raise IndexMismatch("this index has no vectors yet; run `repoqa index` (without --no-embed)")
    from service.embedders import open_embedder

    embedder = opener() if opener is not None else open_embedder(embed_options(root))
    if embedder.model_id != meta["vector_model"]:
        raise IndexMismatch(f"the vectors were made with {meta['vector_model']}, the configured model is "
                            f"{embedder.model_id}; run `repoqa index` to rebuild them")
    dim = int(meta["vector_dim"])
    vstore = vectors(vector_options(root), index_dir_for(root), dim, meta.get("vector_updated_ns", "")) \
        if vectors is not None else open_vector_store(vector_options(root), index_dir_for(root), dim)
    return Searcher(store, vstore, embedder)


def _check_compatible(store, root: Path) -> dict[str, str]:
    """The index's meta; refuses an index built by another format or with other options."""
    from indexer.errors import IndexMismatch
    from indexer.languages import queries_digest
    from indexer.options import FORMAT_VERSION, options_hash
    from service.config import index_options

    meta = store.meta()
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise IndexMismatch(f"the index has format {meta.get('format_version')}, this repoqa reads "
                            f"{FORMAT_VERSION}; run `repoqa index` to rebuild it")
    options = index_options(root)
    if meta.get("options_hash") != options_hash(options, queries_digest(tuple(options.languages))):
        raise IndexMismatch("the index was built with other options; run `repoqa index` to rebuild it")
    return meta


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--no-embed", is_flag=True, help="Keep structure, full text and graph fresh; no vectors.")
@click.pass_context
def watch(ctx: click.Context, paths: tuple[Path, ...], no_embed: bool) -> None:
    """Keep the index of each PATH (default: the current repository) fresh as files change.

    Runs in the foreground until SIGTERM or Ctrl-C; writes .repoqa/watch.pid. Structure,
    full text and graph follow a save within a fraction of a second; vectors follow in
    slices between updates. `repoqa status` shows the watcher and how far behind it is.
    """
    import signal

    from graph.build import GraphIndex
    from indexer.watch import Watcher
    from service.config import index_options

    roots = [_root(ctx, p) for p in paths] or [_root(ctx)]
    watcher = Watcher({r: index_options(r) for r in roots}, derived=[GraphIndex()],
                      **_dense_hooks(roots, no_embed))
    watcher.start()

    def stop(signum, frame) -> None:
        watcher.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Watching {', '.join(map(str, roots))} (pid {os.getpid()})", err=True)
    try:
        watcher.run()
    finally:
        watcher.close()
    click.echo("Stopped watching.", err=True)


def _dense_hooks(roots: list[Path], no_embed: bool) -> dict:
    """The watcher's vector work: a DenseUpdater per root, stepped after each update and
    in slices while no event is pending."""
    if no_embed:
        return {}
    from indexer.dense import DenseUpdater
    from service.config import embed_options, vector_options
    from service.embedders import open_embedder

    updaters: dict[Path, DenseUpdater] = {}
    embedders: dict[str, object] = {}  # by the whole embed options (model, backend, server)

    def updater(root: Path) -> DenseUpdater:  # made on first use: a server's clients add roots
        if root not in updaters:
            eo = embed_options(root)
            if repr(eo) not in embedders:
                embedders[repr(eo)] = open_embedder(eo)
            updaters[root] = DenseUpdater(root, embedders[repr(eo)], vector_options(root))
        return updaters[root]

    for root in roots:  # a model that cannot load is an error at start, not in the loop
        updater(root)

    class Vectors:
        def __call__(self, root: Path) -> float | None:  # an idle slice
            return updater(root).step(budget_s=0.25)

        def after(self, root: Path, summary) -> None:  # right after a structure update
            updater(root).step(budget_s=0.5)

        def forget(self, root: Path) -> None:  # the watcher let go of the root
            u = updaters.pop(root, None)
            if u is not None:
                u.close()

        def close(self) -> None:
            for u in updaters.values():
                u.close()

    vectors = Vectors()
    return {"idle": [vectors], "after_update": [vectors.after]}


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=50051, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free port, printed when ready).")
@click.option("--repo", "repos", multiple=True, metavar="[ID=]PATH",
              help="A repository to serve, under the id ID (default: its directory's name); "
                   "repeatable; default: the current one.")
@click.option("--token", envvar="REPOQA_SERVER_TOKEN", default="",
              help="Bearer token clients must send (required beyond loopback; or REPOQA_SERVER_TOKEN).")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None)
@click.option("--allow-root", "allow", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Clients may add repositories under this directory (repeatable; default: none).")
@click.option("--watch", "watch_", is_flag=True,
              help="Keep the index of every repository served fresh as files change, those clients add "
                   "too (each is indexed when added; one a client removes is let go of).")
@click.option("--no-embed", is_flag=True, help="With --watch: no vectors.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, repos: tuple[str, ...], token: str, tls_cert: Path | None,
          tls_key: Path | None, allow: tuple[Path, ...], watch_: bool, no_embed: bool) -> None:
    """Serve the gRPC API (health checks and reflection included) until SIGTERM or Ctrl-C."""
    import asyncio
    import threading

    from service.config import index_options
    from service.errors import InvalidRequest
    from service.rpc import Registry
    from service.server import ServerOptions
    from service.server import serve as run_server

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if no_embed and not watch_:
        raise click.UsageError("--no-embed goes with --watch (it says what the watcher keeps fresh)")
    registry = Registry(index_options, allowed=allow)
    for value in repos or (str(_root(ctx)),):
        repo_id, path = _id_and_path(value)
        try:
            registry.add(path, repo_id, trusted=True)
        except InvalidRequest as exc:
            hint = "; name each with --repo ID=PATH" if not repo_id and "already names" in str(exc) else ""
            raise InvalidRequest(f"{exc}{hint}") from exc
    options = ServerOptions(host=host, port=port, token=token, tls_cert=tls_cert, tls_key=tls_key)
    roots = [e.root for e in registry.all()]
    watcher, thread = None, None

    def start() -> None:
        nonlocal watcher, thread
        if not watch_:
            return
        from graph.build import GraphIndex
        from indexer.watch import Watcher

        watcher = Watcher({r: index_options(r) for r in roots}, derived=[GraphIndex()],
                          **_dense_hooks(roots, no_embed))
        w = watcher

        def added(entry) -> None:  # a client's AddRepository: watched (and so indexed) too
            try:
                w.add_root(entry.root, entry.options)
            except Exception as exc:  # noqa: BLE001 -- another watcher has it, or its lock cannot be made
                log.warning("not watching %s: %s", entry.root, exc)

        def removed(entry) -> None:  # let go of (its lock too) before the call returns, mostly
            w.remove_root(entry.root, timeout=5.0)

        held = registry.subscribe(added, removed)
        watcher.start()
        for root in set(watcher.roots) - {e.root for e in held}:  # removed by a client before that
            watcher.remove_root(root, timeout=0)
        for entry in held:  # added by a client before that
            added(entry)
        thread = threading.Thread(target=watcher.run, name="repoqa-watch", daemon=True)
        thread.start()

    def stop() -> None:
        # A watcher whose start was refused let go of what it took then; closing it would mark
        # the other watcher's repository stopped and remove that watcher's pid file.
        if watcher is not None and thread is not None:
            watcher.stop()
            thread.join(timeout=30)
            watcher.close()

    def ready(bound: int) -> None:
        scheme = "TLS" if tls_cert else "plaintext"
        click.echo(f"repoqa serving {len(roots)} repositor{'y' if len(roots) == 1 else 'ies'} on "
                   f"{host}:{bound} ({scheme}{', token required' if token else ''}"
                   f"{', watching' if watch_ else ''})", err=True)

    asyncio.run(run_server(options, registry, searcher_for=_server_searcher(), embed=_server_embed,
                           ready=ready, on_start=start, on_stop=stop))
    click.echo("Stopped serving.", err=True)


def _id_and_path(value: str) -> tuple[str, Path]:
    """`--repo ID=PATH` or `--repo PATH` (a path that exists as written is a path, even with
    an `=` in it)."""
    repo_id, sep, path = value.partition("=")
    if sep and repo_id and path and not Path(value).exists():
        return repo_id, Path(path)
    return "", Path(value)


def _server_searcher():
    """`_searcher` for a long-lived server: the query embedder is loaded once, on first use,
    and made ready for questions then (traced), not at the second request; each index's
    vector store is read once and kept open until its file changes (indexer.vectors.KeptStores)."""
    import threading

    from indexer.vectors import KeptStores
    from service.config import embed_options
    from service.embedders import open_embedder

    cache: dict[str, object] = {}
    lock = threading.Lock()
    kept = KeptStores()

    def opener(options):
        with lock:
            key = repr(options)
            if key not in cache:
                embedder = open_embedder(options)
                prepare = getattr(embedder, "prepare_questions", None)  # the in-process model's
                if prepare is not None:
                    prepare()
                cache[key] = embedder
            return cache[key]

    def searcher_for(store, meta, root, mode):
        return _searcher(store, meta, root, mode, opener=lambda: opener(embed_options(root)), vectors=kept.open)

    return searcher_for


def _server_embed(root: Path, progress):
    return _embed(root, progress)


# -- the graph -------------------------------------------------------------------------------


def _in_repo(root: Path, name: str) -> str:
    """NAME as the graph reads it: a path (or `path:line[:col]`) that exists relative to the
    current directory, or is absolute, becomes relative to the repository root, as git reads
    paths; anything else (a name) is left as it is."""
    head, tail = name, ""
    for strips in range(3):  # path, path:line, path:line:col
        if _here(head):
            break
        before, sep, after = head.rpartition(":")
        if strips == 2 or not (sep and after.isdigit()):
            return name  # a name, or a path from the root
        head, tail = before, f":{after}{tail}"
    try:
        rel = (Path.cwd() / head).resolve().relative_to(root)
    except (ValueError, OSError):
        return name  # outside the repository: the graph says it knows no such path
    return f"{rel.as_posix()}{tail}" if rel.parts else name


def _here(text: str) -> bool:
    """Whether `text` names a file, or with a `/` a directory, from the current directory (a
    bare word that is a directory here stays a name: `core` the function, `core/` the package)."""
    try:
        path = Path.cwd() / text
        return path.is_file() or ("/" in text and path.exists())
    except (OSError, ValueError):  # a name too long for a path, a NUL
        return False


def _graph_query(ctx: click.Context, name: str, as_json: bool, run, *, header: bool = True,
                 forward: bool = False, exact: bool = False) -> None:
    """Run `run(graph, node)` for each definition NAME matches, printing the answers grouped
    by definition (a bare name may match several). `exact`: see Graph.find."""
    from graph.query import Graph
    from indexer.store import Store
    from indexer.update import index_dir_for

    root = _root(ctx, reads=True)
    name = _in_repo(root, name)
    store = Store.open_reader(index_dir_for(root))
    try:
        _check_compatible(store, root)
        graph = Graph(store)
        groups = [(node, run(graph, node)) for node in graph.find(name, exact=exact)]
    finally:
        store.close()
    if as_json:
        _echo_json([{**loc.to_json(), "of": f"{node.path}::{node.qualname}" if node.qualname else node.path}
                    for node, locs in groups for loc in locs])
        return
    for i, (node, locs) in enumerate(groups):
        if header:
            if i:
                click.echo()
            where = f"{node.path}:{node.line}" if node.qualname else node.path
            click.echo(click.style(f"{node.label}", bold=True) + f"  ({node.kind}, {where})")
        if not locs:
            click.echo("  (none found)")
        for loc in locs:
            click.echo("  " + _format_location(loc, forward))


def _format_location(loc, forward: bool = False) -> str:
    """`path:line  who  kind  whom`: the place is the user (a caller, an importer), or with
    `forward` the definition reached (a callee), which `target` reached."""
    depth = f"  [depth {loc.depth}]" if loc.depth > 1 else ""
    doubt = "" if loc.resolution == "resolved" else f"  ({loc.resolution}, {loc.confidence:.2g})"
    symbol = loc.symbol or "(top level)"
    if loc.kind == "definition":
        relation = symbol
    elif forward:
        relation = f"{symbol}  <- {loc.kind} from {loc.target}"
    else:
        relation = f"{symbol}  {loc.kind} {loc.target}"
    return f"{loc.path}:{loc.line}  {relation}{depth}{doubt}"


def _paging(f):
    f = click.option("--offset", default=0, show_default=True, type=click.IntRange(0),
                     help="Skip this many answers (the next page).")(f)
    f = click.option("-n", "--limit", default=100, show_default=True, type=click.IntRange(1, 10_000),
                     help="At most this many answers per definition.")(f)
    return click.option("--json", "as_json", is_flag=True,
                        help="Print a JSON list of {path, line, symbol, kind, confidence, ...}.")(f)


@cli.command("def")
@click.argument("name", callback=_valid_text)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def definition(ctx: click.Context, name: str, as_json: bool) -> None:
    """Where NAME is defined. NAME: Class.method, pkg.module.func, a bare name (every match),
    a path, or path:line:col (the definition of what is used there, or the one whose name is
    there; path:line, the one named on that line). A path is read from the current
    directory, as git reads it, when a file is there (a path from the repository root works
    too); so are those of every graph command."""
    _graph_query(ctx, name, as_json, lambda g, node: g.definition(node), header=False, exact=True)


@cli.command()
@click.argument("name", callback=_valid_text)
@_paging
@click.pass_context
def refs(ctx: click.Context, name: str, as_json: bool, limit: int, offset: int) -> None:
    """Every place that uses NAME: calls, imports, base classes, type uses. Surest first."""
    _graph_query(ctx, name, as_json, lambda g, node: g.references(node, limit=limit, offset=offset))


@cli.command()
@click.argument("name", callback=_valid_text)
@click.option("--depth", default=1, show_default=True, type=click.IntRange(1, 20), help="Hops to follow.")
@_paging
@click.pass_context
def callers(ctx: click.Context, name: str, depth: int, as_json: bool, limit: int, offset: int) -> None:
    """Who calls NAME (and who calls those, with --depth). Nearest first."""
    _graph_query(ctx, name, as_json, lambda g, node: g.callers(node, depth=depth, limit=limit, offset=offset))


@cli.command()
@click.argument("name", callback=_valid_text)
@click.option("--depth", default=1, show_default=True, type=click.IntRange(1, 20), help="Hops to follow.")
@_paging
@click.pass_context
def callees(ctx: click.Context, name: str, depth: int, as_json: bool, limit: int, offset: int) -> None:
    """What NAME calls (and what those call, with --depth). Nearest first."""
    _graph_query(ctx, name, as_json, lambda g, node: g.callees(node, depth=depth, limit=limit, offset=offset),
                 forward=True)


@cli.command()
@click.argument("name", callback=_valid_text)
@click.option("--depth", default=0, show_default=True, type=click.IntRange(0, 50),
              help="Hops to follow (0: no bound).")
@_paging
@click.pass_context
def impact(ctx: click.Context, name: str, depth: int, as_json: bool, limit: int, offset: int) -> None:
    """Everything that transitively depends on NAME (a symbol, a file or a directory): what
    imports, calls, inherits, refers to or tests it. Nearest first."""
    _graph_query(ctx, name, as_json, lambda g, node: g.impact(node, depth=depth, limit=limit, offset=offset))


@cli.command("path")
@click.argument("source", callback=_valid_text)
@click.argument("target", callback=_valid_text)
@click.option("--json", "as_json", is_flag=True, help="Print the hops as a JSON list.")
@click.pass_context
def path_(ctx: click.Context, source: str, target: str, as_json: bool) -> None:
    """How SOURCE reaches TARGET: the shortest chain of calls, imports, inheritance and type uses."""
    from graph.query import Graph
    from indexer.store import Store
    from indexer.update import index_dir_for

    root = _root(ctx, reads=True)
    store = Store.open_reader(index_dir_for(root))
    try:
        _check_compatible(store, root)
        graph = Graph(store)
        hops = graph.path(_in_repo(root, source), _in_repo(root, target))
    finally:
        store.close()
    if as_json:
        _echo_json([h.to_json() for h in hops])
        return
    if not hops:
        click.echo(f"{source} does not reach {target} through calls, imports, inheritance or type uses.")
        return
    for h in hops:
        click.echo(f"{h.depth:>2}. " + _format_location(h).replace(f"  [depth {h.depth}]", ""))


# -- the model ------------------------------------------------------------------------------


def _generator_flags(f):
    from service.config import MAX_ANSWER_TOKENS

    f = click.option("--max-tokens", type=click.IntRange(1, MAX_ANSWER_TOKENS), default=None,
                     help="Most tokens the model may write (default: [generator] max_tokens).")(f)
    f = click.option("--model", default=None, help="The model (a server's model name, or a local model path).")(f)
    f = click.option("--base-url", default=None, help="An OpenAI-compatible server, e.g. http://host:8000.")(f)
    return click.option("--backend", type=click.Choice(["auto", "local", "openai", "vllm"]), default=None,
                        help="Which generator (default: [generator] backend, auto).")(f)


def _open_model(root: Path, backend, base_url, model, max_tokens, quiet: bool):
    from service.config import generator_options
    from service.generators import open_generator

    options = generator_options(root, overrides={"backend": backend, "base_url": base_url, "model": model,
                                                 "max_tokens": max_tokens})

    def progress(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    return options, open_generator(options, progress=progress)


def _print_facts(root: Path, question: str) -> None:
    """The graph's exact facts for `question`, from the index alone (no searcher, no model)."""
    from indexer.store import Store
    from indexer.update import index_dir_for
    from service import assist

    store = Store.open_reader(index_dir_for(root))
    try:
        _check_compatible(store, root)
        facts = assist.facts_for(store, question)
    finally:
        store.close()
    _echo_facts(facts)


def _echo_facts(facts) -> None:
    if facts.lines:
        click.secho("Exact, from the graph:", bold=True)
        for line in facts.lines:
            click.echo(line)
        click.echo()


def _with_index(root: Path, work):
    """work(store, searcher) inside one read transaction of the index."""
    from indexer.store import Store
    from indexer.update import index_dir_for

    store = Store.open_reader(index_dir_for(root))
    searcher = None
    try:
        meta = _check_compatible(store, root)
        searcher = _searcher(store, meta, root, "auto")
        store.conn.execute("BEGIN")
        try:
            return work(store, searcher)
        finally:
            store.conn.execute("ROLLBACK")
    finally:
        if searcher is not None and searcher.vstore is not None:
            searcher.vstore.close()
        store.close()


@cli.command()
@click.argument("question", callback=_question)
@_generator_flags
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object when the answer is complete.")
@click.pass_context
def ask(ctx: click.Context, question: str, backend, base_url, model, max_tokens, as_json: bool) -> None:
    """Answer QUESTION from the repository: what the graph knows exactly first, then the
    model's answer grounded in the context bundle, then the sources it cites. A QUESTION of
    `-` is read from stdin."""
    from assistant.errors import AssistantError
    from service import assist

    if not question.strip():
        raise click.UsageError("the question is empty")
    root = _root(ctx, reads=True)
    try:
        options, generator = _open_model(root, backend, base_url, model, max_tokens, as_json)
    except AssistantError:
        if not as_json:  # the graph's facts need no model: say them, then why there is no answer
            with contextlib.suppress(IndexerError):  # no index: the model's error says enough
                _print_facts(root, question)
        raise
    streamed = [False]

    def on_text(piece: str) -> None:
        if not as_json:
            if not streamed[0]:
                streamed[0] = True
                click.secho(f"Answer ({generator.model}, generated):", bold=True)
            click.echo(piece, nl=False)

    def on_facts(facts) -> None:
        if facts and not as_json:
            _echo_facts(facts)

    try:
        result = _with_index(root, lambda store, searcher: assist.answer(
            store, searcher, root, question, generator, options, on_facts=on_facts, on_text=on_text))
    finally:
        generator.close()
    if as_json:
        _echo_json(result.to_json())
        return
    click.echo()
    if result.citations:
        click.secho("Sources:", bold=True)
        for c in result.citations:
            click.echo(f"  {c['path']}:{c['start_line']}-{c['end_line']}")
    notes = [f"{result.prompt_tokens} prompt tokens", f"first token {result.ttft_s:.1f} s",
             f"total {result.total_s:.1f} s", f"snapshot {result.snapshot}"]
    if result.dropped_citations:
        notes.append(f"{result.dropped_citations} citation(s) outside the bundle dropped")
    if result.masked_secrets:
        notes.append(f"{result.masked_secrets} secret(s) masked before sending")
    if result.units_dropped:
        notes.append(f"{result.units_dropped} unit(s) left out to fit the model's context")
    click.echo("(" + "; ".join(notes) + ")", err=True)


@cli.command()
@click.argument("instruction", callback=_question)
@click.option("--apply", "apply_", is_flag=True, help="Write the change (atomically, per file) if it checks out.")
@_generator_flags
@click.option("--json", "as_json", is_flag=True, help="Print the proposal as one JSON object.")
@click.pass_context
def edit(ctx: click.Context, instruction: str, apply_: bool, backend, base_url, model, max_tokens,
         as_json: bool) -> None:
    """Ask the model for a change that does INSTRUCTION and show it as a checked diff: it
    applies to the current files, every file still parses, Python is scanned by bandit, and
    what depends on the changed code is listed. Nothing is written without --apply. An
    INSTRUCTION of `-` is read from stdin."""
    from assistant.edits import apply as apply_edit
    from service import assist

    if not instruction.strip():
        raise click.UsageError("the instruction is empty")
    root = _root(ctx, reads=True)
    options, generator = _open_model(root, backend, base_url, model, max_tokens, as_json)
    try:
        proposal = _with_index(root, lambda store, searcher: assist.propose_edit(
            store, searcher, root, instruction, generator, options))
    finally:
        generator.close()
    written: list[str] = []
    if apply_ and proposal.ok:
        written = apply_edit(proposal, root)
    if as_json:
        _echo_json({**proposal.to_json(), "applied": written})
    else:
        click.echo(proposal.diff, nl=False)
        for c in proposal.checks:
            if not c.checked:
                state = f"not checked ({c.note or 'a kind of file repoqa does not parse'})"
            elif c.ok:
                state = f"parses ({c.errors_after} syntax error(s), {c.errors_before} before)"
            else:
                state = (f"NEW SYNTAX ERRORS: {c.errors_before} before, {c.errors_after} after, at lines "
                         f"{', '.join(map(str, c.error_lines[:10]))}")
            click.echo(f"check {c.path}: {state}")
        for f in proposal.findings:
            new = "new" if f.introduced else "already there"
            click.echo(f"bandit {f.path}:{f.line} {f.test_id} {f.severity}/{f.confidence} ({new}): {f.message}")
        if proposal.may_need_updating:
            click.secho("May need updating:", bold=True)
            for line in proposal.may_need_updating:
                click.echo(f"  {line}")
        for note in proposal.notes:
            click.echo(f"note: {note}")
        if written:
            click.echo(f"Applied to {', '.join(written)}.")
        elif apply_:
            click.echo("Not applied: the change does not check out.", err=True)
        else:
            click.echo("(not applied; run again with --apply to write it)", err=True)
    if apply_ and not proposal.ok:
        ctx.exit(1)


def main() -> None:
    passive_waits()  # before anything imports torch or faiss
    cli(prog_name="repoqa")


if __name__ == "__main__":
    main()
