"""The indexer's errors.

    IndexerError                 base of everything the indexer raises on purpose
    ├── NotARepository           the path does not exist or is not a directory
    ├── IndexNotFound            no index has been built for this repository yet
    ├── IndexLocked              another process holds the writer lock
    ├── IndexMismatch            the index was built by another format or other options
    └── StoreError               the SQLite store is unreadable or corrupt
"""

from __future__ import annotations


class IndexerError(Exception):
    """Base class of the indexer's domain errors; the message is meant for users."""


class NotARepository(IndexerError):
    pass


class IndexNotFound(IndexerError):
    pass


class IndexLocked(IndexerError):
    pass


class IndexMismatch(IndexerError):
    pass


class StoreError(IndexerError):
    pass
