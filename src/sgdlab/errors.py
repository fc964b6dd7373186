"""Errors a user can cause and fix. The CLI prints them as one line and exits with code 2.

Every class also derives from the built-in exception a Python caller would expect
(``ValueError`` for bad values, ``FileNotFoundError`` for missing data), so library users can
catch either.
"""

from __future__ import annotations


class SgdlabError(Exception):
    """Base class: a problem with the user's input or environment, not a bug in sgdlab."""


class ConfigError(SgdlabError, ValueError):
    """A hyperparameter or option has a value that cannot work (batch size 0, lr NaN, ...)."""


class DataFormatError(SgdlabError, ValueError):
    """A data file is not a valid IDX file, or does not hold the expected content."""


class DataNotFoundError(SgdlabError, FileNotFoundError):
    """No copy of the data set could be found or downloaded."""


class DownloadError(SgdlabError, OSError):
    """Every mirror failed (HTTP errors, resets, stalls, or content with the wrong hash)."""


class CheckpointError(SgdlabError, ValueError):
    """A checkpoint is missing, corrupt, or was written by an incompatible run."""


class DivergenceError(SgdlabError, FloatingPointError):
    """Training produced a non-finite cost: the learning rate is too large."""


class TrainingInterrupted(SgdlabError):
    """SIGTERM or Ctrl-C stopped training after a checkpoint was written."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class DistributedError(SgdlabError, RuntimeError):
    """A data-parallel run lost a rank, or its ranks never met within the timeout."""

    exit_code = 3
