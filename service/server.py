"""The gRPC server: the servicers behind two interceptors (a bearer token, and the error
mapping), the standard health service and server reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from repoqa.v1 import (
    assistant_pb2_grpc,
    navigation_pb2_grpc,
    repositories_pb2_grpc,
    retrieval_pb2_grpc,
)

from .errors import InvalidRequest, ServiceError, status_for
from .rpc import (
    AssistantServicer,
    Cancelled,
    Generators,
    NavigationServicer,
    Registry,
    RepositoriesServicer,
    RetrievalServicer,
)

log = logging.getLogger(__name__)

SERVICES = tuple(f"repoqa.v1.{name}" for name in ("Repositories", "Navigation", "Retrieval", "Assistant"))
MAX_REQUEST = 8 * 2**20
MAX_RESPONSE = 64 * 2**20
_OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")  # reachable without the token


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 50051  # 0: any free port
    token: str = ""  # required from clients when set; the server refuses to listen beyond loopback without one
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grace_s: float = 5.0  # in-flight calls may finish this long after SIGTERM


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Every call but health checks and reflection carries `authorization: Bearer <token>`."""

    def __init__(self, token: str):
        self.token = token.encode()

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if details.method.startswith(_OPEN) or handler is None:
            return handler
        given = dict(details.invocation_metadata or ()).get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token):
            return handler
        return _replace_behavior(handler, _deny_stream if handler.unary_stream is not None else _deny)


async def _deny(request, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")


async def _deny_stream(request, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
    yield  # an async generator, as a streaming call's behavior must be


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps domain errors to their status (service/errors.py) and turns anything unexpected
    into INTERNAL, logged once with its traceback."""

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request, context):
                try:
                    _check_read(request)
                    return await inner(request, context)
                except Exception as exc:  # noqa: BLE001 -- mapped or logged, never lost
                    await _abort(context, exc, method)

            return _replace_behavior(handler, unary)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request, context):
                try:
                    _check_read(request)
                    async for item in inner_stream(request, context):
                        yield item
                except Exception as exc:  # noqa: BLE001 -- as above
                    await _abort(context, exc, method)

            return _replace_behavior(handler, stream)
        return handler


async def _abort(context, exc: BaseException, method: str) -> None:
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    if isinstance(exc, Cancelled):
        await context.abort(grpc.StatusCode.CANCELLED, str(exc))
    code = status_for(exc)
    if code is None:
        log.error("%s failed", method, exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the server's log")
    await context.abort(code, str(exc) or type(exc).__name__)


class _Malformed:
    """A request whose bytes are no message of its type (bad wire format, a string field that
    is not UTF-8): answered INVALID_ARGUMENT by the handler, where gRPC would answer UNKNOWN
    and log a traceback for each."""

    def __init__(self, reason: str):
        self.reason = reason


def _lenient(deserialize: Callable | None) -> Callable | None:
    if deserialize is None:
        return None

    def read(data: bytes):
        try:
            return deserialize(data)
        except Exception as exc:  # noqa: BLE001 -- protobuf's DecodeError and kin
            return _Malformed(str(exc) or type(exc).__name__)

    return read


def _check_read(request) -> None:
    if isinstance(request, _Malformed):
        raise InvalidRequest(f"malformed request: {request.reason}")


def _replace_behavior(handler, behavior):
    kw = {"request_deserializer": _lenient(handler.request_deserializer),
          "response_serializer": handler.response_serializer}
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(behavior, **kw)
    return grpc.unary_unary_rpc_method_handler(behavior, **kw)


def build_server(options: ServerOptions, registry: Registry, *, searcher_for: Callable,
                 embed: Callable | None = None, generator_opener: Callable | None = None,
                 ) -> tuple[grpc.aio.Server, int, HealthServicer]:
    """The server with every service, bound to its port (not started). `generator_opener`
    (GeneratorOptions -> Generator) replaces service.generators.open_generator."""
    if not is_loopback(options.host) and not options.token:
        raise ServiceError(f"refusing to listen on {options.host} without a token: set one (--token, "
                           "REPOQA_SERVER_TOKEN), or listen on 127.0.0.1")
    interceptors = [ErrorInterceptor()]
    if options.token:
        interceptors.insert(0, TokenInterceptor(options.token))
    server = grpc.aio.server(interceptors=interceptors, options=[
        ("grpc.max_receive_message_length", MAX_REQUEST), ("grpc.max_send_message_length", MAX_RESPONSE),
        ("grpc.so_reuseport", 0)])
    repositories_pb2_grpc.add_RepositoriesServicer_to_server(RepositoriesServicer(registry, embed), server)
    navigation_pb2_grpc.add_NavigationServicer_to_server(NavigationServicer(registry), server)
    models = Generators(generator_opener)  # one per repository's [generator], for Ask, Edit and reranking
    retrieval_pb2_grpc.add_RetrievalServicer_to_server(RetrievalServicer(registry, searcher_for, models), server)
    assistant_pb2_grpc.add_AssistantServicer_to_server(AssistantServicer(registry, searcher_for, models), server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = (*SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    address = f"{options.host}:{options.port}"
    try:
        if options.tls_cert:
            _check_tls(options.tls_cert, options.tls_key)
            creds = grpc.ssl_server_credentials([(options.tls_key.read_bytes(), options.tls_cert.read_bytes())])
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
    except (RuntimeError, OSError) as exc:  # the port taken, an address not here
        raise ServiceError(f"cannot listen on {address}: {exc}") from exc
    if port == 0:
        raise ServiceError(f"cannot listen on {address}")
    return server, port, health


def _check_tls(cert: Path, key: Path | None) -> None:
    """Refuse a certificate or key that is not PEM or does not match, by name: gRPC would
    only fail to bind, as if the port were taken."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # what gRPC's own check lets by (a 1024-bit key)
    try:  # an encrypted key (gRPC takes none) is refused, not asked a passphrase for
        context.load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        raise ServiceError(f"cannot use the TLS certificate {cert} with the key {key}: {exc}") from exc


async def start_server(options: ServerOptions, registry: Registry, *, searcher_for: Callable,
                       embed: Callable | None = None, generator_opener: Callable | None = None,
                       ) -> tuple[grpc.aio.Server, int, HealthServicer]:
    """Build the server, start it, and report every service SERVING."""
    server, port, health = build_server(options, registry, searcher_for=searcher_for, embed=embed,
                                        generator_opener=generator_opener)
    await server.start()
    for name in ("", *SERVICES):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health


async def serve(options: ServerOptions, registry: Registry, *, searcher_for: Callable,
                embed: Callable | None = None, ready: Callable[[int], None] | None = None,
                on_start: Callable[[], None] | None = None, on_stop: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then let in-flight calls finish within the grace period."""
    server, port, health = await start_server(options, registry, searcher_for=searcher_for, embed=embed)
    try:
        if on_start is not None:
            on_start()  # may refuse (another watcher holds a repository): the server stops too
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        if ready is not None:
            ready(port)
        await stopping.wait()
    finally:
        await health.enter_graceful_shutdown()
        await server.stop(options.grace_s)
        if on_stop is not None:
            on_stop()
