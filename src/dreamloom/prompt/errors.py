"""The one exception the prompt layer raises for anything a user typed."""

from __future__ import annotations


class PromptError(ValueError):
    """A prompt that cannot be run; ``message`` is shown to the user as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
