"""What an index holds and whether it is fresh, without reading any file's contents."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import gitinfo
from .errors import IndexNotFound
from .languages import queries_digest
from .lock import holder_pid
from .options import FORMAT_VERSION, IndexOptions, options_hash
from .scan import scan
from .store import Store
from .update import index_dir_for


@dataclass
class IndexStatus:
    root: str
    index: str
    state: str  # fresh | stale | other-options | other-format
    format_version: int
    current_format_version: int
    commit: str
    dirty: bool
    snapshot: str
    head_now: str  # the commit checked out now, for comparison
    languages: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    changed: int = 0  # files whose size or mtime differ from the index
    added: int = 0
    removed: int = 0
    updated_at: str = ""
    writer_pid: int | None = None  # a process writing the index right now
    vectors: dict[str, object] = field(default_factory=dict)  # model, store, dim, embedded/total chunks
    options: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def index_status(root: Path, options: IndexOptions) -> IndexStatus:
    root = root.resolve()
    index_dir = index_dir_for(root)
    store = Store.open_reader(index_dir)
    try:
        meta = store.meta()
        if not meta:
            raise IndexNotFound(f"the index at {index_dir} is empty; run `repoqa index`")
        fmt = int(meta.get("format_version", "0") or 0)
        want = options_hash(options, queries_digest(tuple(options.languages)))
        counts = store.counts() if fmt == FORMAT_VERSION else {}
        languages = store.languages() if fmt == FORMAT_VERSION else {}
        skipped = store.skipped() if fmt == FORMAT_VERSION else {}
        known = store.file_states() if fmt == FORMAT_VERSION else {}
        vectors = _vectors(store, meta, counts["chunks"]) if fmt == FORMAT_VERSION else {}
    finally:
        store.close()
    snap = gitinfo.Snapshot(meta.get("commit", ""), meta.get("dirty") == "1", meta.get("dirty_digest", ""))
    head = gitinfo.run_git(root, "rev-parse", "--verify", "-q", "HEAD")
    st = IndexStatus(
        root=str(root), index=str(index_dir), state="fresh", format_version=fmt,
        current_format_version=FORMAT_VERSION, commit=snap.commit, dirty=snap.dirty,
        snapshot=snap.stamp(), head_now=head.strip() if head else "", languages=languages,
        counts=counts, skipped=skipped, writer_pid=holder_pid(index_dir), vectors=vectors,
        options=json.loads(meta.get("options", "{}")),
    )
    if "updated_ns" in meta:
        st.updated_at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(meta["updated_ns"]) / 1e9))
    if fmt != FORMAT_VERSION:
        st.state = "other-format"
        return st
    if meta.get("options_hash") != want:
        st.state = "other-options"
        return st
    seen = set()
    for e in scan(root, options):
        if e.skip_reason == "vanished":
            continue
        seen.add(e.path)
        old = known.get(e.path)
        if old is None:
            st.added += 1
        elif old.size != e.size or old.mtime_ns != e.mtime_ns:
            st.changed += 1
    st.removed = sum(1 for p in known if p not in seen)
    if st.added or st.changed or st.removed:
        st.state = "stale"
    return st


def _vectors(store: Store, meta: dict[str, str], chunks: int) -> dict[str, object]:
    """Which model and store hold the vectors, and how many chunks have theirs so far
    (counted from the embedding cache, which fills batch by batch while embedding runs)."""
    model = meta.get("vector_model", "")
    if not model:
        return {}
    done = store.conn.execute(
        "SELECT count(*) FROM chunks c WHERE EXISTS (SELECT 1 FROM embeddings e "
        "WHERE e.model = ? AND e.text_hash = c.text_hash)", (model,)).fetchone()[0]
    return {"model": model, "dim": int(meta.get("vector_dim", "0") or 0),
            "store": meta.get("vector_store", ""), "chunks_embedded": done, "chunks": chunks,
            "vectors": int(meta.get("vector_count", "0") or 0)}
