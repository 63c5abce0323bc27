"""The assistant's errors.

    AssistantError               base of everything the assistant raises on purpose
    ├── GeneratorError           the model cannot be loaded or reached, or it failed to answer
    │   └── PromptTooLong        the prompt does not fit the model's context length
    └── EditError                a proposed edit that cannot be shown or applied
        ├── EditFormatError      the model's reply is not well-formed edit blocks (or JSON)
        ├── EditMatchError       a SEARCH text is not found, or found more than once
        ├── EditPathError        a path outside the repository root (absolute, `..`, symlink)
        └── StaleFileError       a file changed since the proposal was made: nothing is written

They derive from indexer.errors.IndexerError, so the CLI's and the server's single handlers
for domain errors cover them too.
"""

from __future__ import annotations

from indexer.errors import IndexerError


class AssistantError(IndexerError):
    """Base class of the assistant's domain errors; the message is meant for users."""


class GeneratorError(AssistantError):
    """The model could not be loaded, reached, or failed while answering.

    `status` is the HTTP status a model server answered with (0 when there was no answer).
    """

    def __init__(self, message: str, *, status: int = 0):
        super().__init__(message)
        self.status = status


class PromptTooLong(GeneratorError):
    pass


class EditError(AssistantError):
    pass


class EditFormatError(EditError):
    pass


class EditMatchError(EditError):
    pass


class EditPathError(EditError):
    pass


class StaleFileError(EditError):
    pass
