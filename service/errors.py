"""The service's own errors, and the one table that maps every domain error to a gRPC status.

    ServiceError                 base of what the service raises on purpose
    ├── UnknownRepository        no repository registered under that id
    ├── InvalidRequest           a malformed request: missing fields, too large, bad values
    └── PathOutsideRoot          a path that leaves the repository (../, a symlink, absolute)

Errors of the other packages (indexer.errors, graph.errors, vectors) are mapped too; anything
else becomes INTERNAL in the interceptor (service/server.py), logged once with its traceback.
"""

from __future__ import annotations

import asyncio

import grpc

from assistant.errors import (
    EditFormatError,
    EditMatchError,
    EditPathError,
    GeneratorError,
    PromptTooLong,
    StaleFileError,
)
from graph.errors import BadPosition, GraphNotBuilt, SymbolNotFound
from indexer.errors import (
    IndexerError,
    IndexLocked,
    IndexMismatch,
    IndexNotFound,
    NotARepository,
    StoreError,
)
from indexer.vectors import VectorStoreError


class ServiceError(IndexerError):
    """Base class of the service's domain errors; the message is meant for the client."""


class UnknownRepository(ServiceError):
    pass


class InvalidRequest(ServiceError):
    pass


class PathOutsideRoot(ServiceError):
    pass


class DeadlineExceeded(ServiceError):
    pass


# Most specific first: the first class an error is an instance of decides.
STATUS: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (UnknownRepository, grpc.StatusCode.NOT_FOUND),
    (SymbolNotFound, grpc.StatusCode.NOT_FOUND),
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (BadPosition, grpc.StatusCode.INVALID_ARGUMENT),
    (NotARepository, grpc.StatusCode.INVALID_ARGUMENT),
    (PathOutsideRoot, grpc.StatusCode.PERMISSION_DENIED),
    (IndexMismatch, grpc.StatusCode.FAILED_PRECONDITION),  # being rebuilt with other options
    (IndexNotFound, grpc.StatusCode.FAILED_PRECONDITION),  # not indexed yet
    (GraphNotBuilt, grpc.StatusCode.FAILED_PRECONDITION),
    (IndexLocked, grpc.StatusCode.ABORTED),  # another writer: try again
    (StoreError, grpc.StatusCode.UNAVAILABLE),
    (VectorStoreError, grpc.StatusCode.UNAVAILABLE),
    (PromptTooLong, grpc.StatusCode.INVALID_ARGUMENT),  # before GeneratorError, its base
    (GeneratorError, grpc.StatusCode.UNAVAILABLE),  # the model server is down or refused
    (EditFormatError, grpc.StatusCode.FAILED_PRECONDITION),  # the model's reply was not an edit
    (EditMatchError, grpc.StatusCode.FAILED_PRECONDITION),  # it does not apply to the files
    (EditPathError, grpc.StatusCode.PERMISSION_DENIED),  # it names a path outside the repository
    (StaleFileError, grpc.StatusCode.ABORTED),  # a file changed since: ask again
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (asyncio.TimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (NotImplementedError, grpc.StatusCode.UNIMPLEMENTED),
)


def status_for(exc: BaseException) -> grpc.StatusCode | None:
    """The status a domain error maps to; None for an unexpected error (INTERNAL)."""
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return None
