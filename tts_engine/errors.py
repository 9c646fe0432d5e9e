"""The errors the engine raises, one tree so that callers can catch the whole family or one branch.

::

    TtsError                    anything the engine refuses or cannot do
    ├── ModelFolderError        a model folder that is incomplete, from another version or corrupt;
    │                           names the file and, where it applies, the key or shape at fault
    ├── InvalidAudio            a voice/emotion reference clip that is unreadable, empty, silent or too short
    └── InvalidRequest          a synthesis request that cannot be served (empty text, bad emotion vector, ...)

They are raised where the problem is found, with a message a user can act on, so that nothing fails later
with a shape error deep inside a network.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["InvalidAudio", "InvalidRequest", "ModelFolderError", "TtsError"]


class TtsError(Exception):
    """Base class of every error the engine raises on purpose."""


class ModelFolderError(TtsError):
    """A model folder (or one file in it) cannot be used.

    ``file`` is the file at fault and ``key`` the config key or state-dict key, when there is one; both are also
    part of the message, which reads ``<file>: <key>: <problem>``. Code that already formats the file into its
    message may pass the message alone.
    """

    def __init__(self, message: str, *, file: str | Path | None = None, key: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.key = key
        self.problem = message
        prefix = "".join(f"{part}: " for part in (self.file, key) if part)
        super().__init__(prefix + message)


class InvalidAudio(TtsError):
    """An audio clip given to the engine cannot serve as a reference (unreadable, empty, silent, too short)."""


class InvalidRequest(TtsError):
    """A request whose parameters the engine cannot honour."""
