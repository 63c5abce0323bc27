"""The graph's errors.

    GraphError                   base of everything the graph raises on purpose
    ├── SymbolNotFound           no symbol or file matches the name (close matches attached)
    ├── BadPosition              a path:line:col that is outside the repository or its file
    └── GraphNotBuilt            the index has no graph yet (built by an older repoqa)
"""

from __future__ import annotations

from indexer.errors import IndexerError


class GraphError(IndexerError):
    """Base class of the graph's domain errors; the message is meant for users."""


class SymbolNotFound(GraphError):
    def __init__(self, name: str, suggestions: list[str] | None = None):
        self.name = name
        self.suggestions = list(suggestions or [])
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"no symbol named {name!r}{hint}")


class BadPosition(GraphError):
    pass


class GraphNotBuilt(GraphError):
    pass
