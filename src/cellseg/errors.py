"""Errors that cellseg reports to users as one line: the file, then the problem."""
from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input: an unreadable file, a wrong shape, an empty folder.

    ``str(err)`` is one line, ``"<path>: <problem>"``, ready to print.
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever a library said
        problem = self.problem
        super().__init__(problem if path is None else f"{path}: {problem}")
