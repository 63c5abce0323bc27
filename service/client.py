"""A small typed client of the repoqa gRPC API, for scripts and tests.

    with Client("127.0.0.1:50051") as c:
        c.add_repository("/src/project")
        for p in c.index("project"):
            print(p.stage, p.done, p.total)
        print(c.definition("project", "pkg/mod.py", line=10, character=4).locations)
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from repoqa.v1 import assistant_pb2 as assistant
from repoqa.v1 import (
    assistant_pb2_grpc,
    navigation_pb2_grpc,
    repositories_pb2_grpc,
    retrieval_pb2_grpc,
)
from repoqa.v1 import common_pb2 as common
from repoqa.v1 import navigation_pb2 as nav
from repoqa.v1 import repositories_pb2 as repos
from repoqa.v1 import retrieval_pb2 as retrieval

UTF16, UTF8 = common.POSITION_ENCODING_UTF16, common.POSITION_ENCODING_UTF8


class Client:
    def __init__(self, target: str = "127.0.0.1:50051", *, token: str = "", root_certificates: bytes | None = None,
                 timeout: float = 30.0):
        options = [("grpc.max_receive_message_length", 64 * 2**20)]  # the server's largest reply
        if root_certificates is not None:
            self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates), options)
        else:
            self.channel = grpc.insecure_channel(target, options)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout
        self.repositories = repositories_pb2_grpc.RepositoriesStub(self.channel)
        self.navigation = navigation_pb2_grpc.NavigationStub(self.channel)
        self.retrieval = retrieval_pb2_grpc.RetrievalStub(self.channel)
        self.assistant = assistant_pb2_grpc.AssistantStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _kw(self, timeout: float | None) -> dict:
        return {"metadata": self.metadata, "timeout": self.timeout if timeout is None else timeout}

    # -- repositories --------------------------------------------------------------------

    def add_repository(self, path: str, repo_id: str = "", *, timeout: float | None = None) -> repos.Repository:
        return self.repositories.AddRepository(repos.AddRepositoryRequest(path=path, id=repo_id), **self._kw(timeout))

    def list_repositories(self, *, timeout: float | None = None) -> list[repos.Repository]:
        return list(self.repositories.ListRepositories(repos.ListRepositoriesRequest(), **self._kw(timeout)).repositories)

    def index(self, repository: str, *, rebuild: bool = False, embed: bool = False,
              timeout: float | None = None) -> Iterator[repos.IndexProgress]:
        return self.repositories.IndexRepository(
            repos.IndexRepositoryRequest(repository=repository, rebuild=rebuild, embed=embed), **self._kw(timeout))

    def status(self, repository: str, *, timeout: float | None = None) -> repos.RepositoryStatus:
        return self.repositories.GetStatus(repos.GetStatusRequest(repository=repository), **self._kw(timeout))

    def remove_repository(self, repository: str, *, timeout: float | None = None) -> None:
        self.repositories.RemoveRepository(repos.RemoveRepositoryRequest(repository=repository), **self._kw(timeout))

    # -- navigation ----------------------------------------------------------------------

    @staticmethod
    def _doc(path: str, text: str | None) -> common.TextDocument:
        return common.TextDocument(path=path, text=text) if text is not None else common.TextDocument(path=path)

    def definition(self, repository: str, path: str, line: int, character: int, *, text: str | None = None,
                   encoding: int = UTF16, timeout: float | None = None) -> nav.LocationsResponse:
        return self.navigation.Definition(nav.PositionRequest(
            repository=repository, document=self._doc(path, text),
            position=common.Position(line=line, character=character), encoding=encoding), **self._kw(timeout))

    def references(self, repository: str, path: str, line: int, character: int, *, text: str | None = None,
                   encoding: int = UTF16, limit: int = 0, offset: int = 0, include_declaration: bool = False,
                   timeout: float | None = None) -> nav.LocationsResponse:
        return self.navigation.References(nav.ReferencesRequest(
            repository=repository, document=self._doc(path, text),
            position=common.Position(line=line, character=character), encoding=encoding, limit=limit,
            offset=offset, include_declaration=include_declaration), **self._kw(timeout))

    def incoming_calls(self, repository: str, path: str, line: int, character: int, *, depth: int = 1,
                       text: str | None = None, encoding: int = UTF16,
                       timeout: float | None = None) -> nav.CallHierarchyResponse:
        return self.navigation.IncomingCalls(nav.CallHierarchyRequest(
            repository=repository, document=self._doc(path, text),
            position=common.Position(line=line, character=character), encoding=encoding, depth=depth),
            **self._kw(timeout))

    def outgoing_calls(self, repository: str, path: str, line: int, character: int, *, depth: int = 1,
                       text: str | None = None, encoding: int = UTF16,
                       timeout: float | None = None) -> nav.CallHierarchyResponse:
        return self.navigation.OutgoingCalls(nav.CallHierarchyRequest(
            repository=repository, document=self._doc(path, text),
            position=common.Position(line=line, character=character), encoding=encoding, depth=depth),
            **self._kw(timeout))

    def document_symbols(self, repository: str, path: str, *, text: str | None = None, encoding: int = UTF16,
                         timeout: float | None = None) -> nav.DocumentSymbolsResponse:
        return self.navigation.DocumentSymbols(nav.DocumentSymbolsRequest(
            repository=repository, document=self._doc(path, text), encoding=encoding), **self._kw(timeout))

    def workspace_symbols(self, repository: str, query: str, *, limit: int = 0,
                          timeout: float | None = None) -> nav.WorkspaceSymbolsResponse:
        return self.navigation.WorkspaceSymbols(nav.WorkspaceSymbolsRequest(
            repository=repository, query=query, limit=limit), **self._kw(timeout))

    # -- retrieval and the assistant -------------------------------------------------------

    def search(self, repository: str, query: str, *, limit: int = 0, mode: str = "", files: bool = False,
               rerank: int = 0, timeout: float | None = None) -> retrieval.SearchResponse:
        return self.retrieval.Search(retrieval.SearchRequest(repository=repository, query=query, limit=limit,
                                                             mode=mode, files=files, rerank=rerank),
                                     **self._kw(timeout))

    def bundle(self, repository: str, query: str, *, budget_tokens: int = 0, rerank: int = 0,
               timeout: float | None = None) -> retrieval.BundleResponse:
        return self.retrieval.Bundle(retrieval.BundleRequest(repository=repository, query=query,
                                                             budget_tokens=budget_tokens, rerank=rerank),
                                     **self._kw(timeout))

    def ask(self, repository: str, question: str, *, max_tokens: int = 0,
            timeout: float | None = None) -> Iterator[assistant.AskResponse]:
        return self.assistant.Ask(assistant.AskRequest(repository=repository, question=question, max_tokens=max_tokens),
                                  **self._kw(timeout))

    def edit(self, repository: str, instruction: str, *, apply: bool = False,
             timeout: float | None = None) -> assistant.EditResponse:
        return self.assistant.Edit(assistant.EditRequest(repository=repository, instruction=instruction, apply=apply),
                                   **self._kw(timeout))
