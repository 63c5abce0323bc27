"""Index options: what to index and how; a hash of those that shape the index contents."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

# Bumped whenever the store's schema or the meaning of a stored column changes.
# 1: files, symbols, refs, chunks, chunks_fts (porter + unicode61 over split identifiers).
# 2: embeddings (a vector cache by chunk text hash); vector_* keys in meta.
# 3: file_terms and files.terms (file-level BM25).
# 4: file_terms keyed by file (written in order), with an index by term.
FORMAT_VERSION = 4


@dataclass(frozen=True, kw_only=True)
class IndexOptions:
    # Languages parsed with tree-sitter; other source-like files are indexed as text.
    languages: tuple[str, ...] = (
        "python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp",
    )
    # Index documentation and configuration files (Markdown, reST, TOML, YAML, ...) as text.
    index_text_files: bool = True
    # Files larger than this are skipped as too_large without being read.
    max_file_bytes: int = 1_000_000
    # Skip files whose average line is longer than this (minified bundles, data blobs).
    max_avg_line_length: int = 300
    # Skip vendored/third-party directories (vendor/, node_modules/, third_party/, ...).
    skip_vendored: bool = True
    # Extra gitignore-style patterns to leave out, on top of .gitignore and .repoqaignore.
    exclude: tuple[str, ...] = ()
    # Target size of a chunk, in estimated tokens; larger definitions are split.
    chunk_max_tokens: int = 400
    # Chunks smaller than this are merged with small neighbours.
    chunk_min_tokens: int = 24
    # Worker processes for parsing; 0 means one per core.
    workers: int = 0
    # Below this many files to parse, parse in this process (a pool costs ~0.2 s to start).
    parallel_threshold: int = 48
    # Seconds to wait for another writer to release the index before giving up.
    lock_timeout: float = 0.0

    def shaping(self) -> dict[str, object]:
        """The options that change what is stored for a given file: a change means a rebuild."""
        return {
            "format": FORMAT_VERSION,
            "languages": sorted(self.languages),
            "index_text_files": self.index_text_files,
            "chunk_max_tokens": self.chunk_max_tokens,
            "chunk_min_tokens": self.chunk_min_tokens,
        }


def options_hash(options: IndexOptions, queries_digest: str) -> str:
    """Hash of the shaping options plus the tag queries: equal hashes mean compatible indexes."""
    blob = json.dumps({**options.shaping(), "queries": queries_digest}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def options_dict(options: IndexOptions) -> dict[str, object]:
    return asdict(options)
