"""The one exception storage raises for a dataset file it cannot use."""

from __future__ import annotations

from os import PathLike


class DatasetError(Exception):
    """A dataset file is missing, unreadable, foreign, too new, inconsistent or locked.

    :param path: the file the problem is about.
    :param message: what is wrong, phrased for the user (no traceback needed to act on it).
    """

    def __init__(self, path: str | PathLike[str], message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")
