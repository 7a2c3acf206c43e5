"""User-facing errors and the exit codes they map to.

Every failure a user can cause or meet derives from ``GheBackupError``; the mapping to a
process exit code happens once, at the edge (the Invoke executor and ``python -m ghe_backup``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a stage, a build, a push or a deployment failed
    BAD_INPUT = 2  # bad flags, bad config, refused before anything changed
    UNREACHABLE = 3  # infrastructure (engine, registry, agent, AWS) could not be reached
    LOCKED = 4  # the account's deploy lock is held by someone else: nothing changed, try again later
    ATTENTION = 5  # plan --exit-code: a deploy would change something; status --check: an account is stale
    INTERRUPTED = 130  # SIGINT/SIGTERM (128 + 2, as shells report it); the message says what runs now


class GheBackupError(Exception):
    """Base of every error shown to users as one line, without a traceback.

    ``account`` and ``stage`` say what the error is about when the raiser knows better than the
    call that failed (one account of several, a stage inside a task); ``--json`` reports them.
    """

    exit_code: ExitCode = ExitCode.FAILED
    account: str | None = None
    stage: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, account: str | None = None, stage: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if account is not None:
            self.account = account
        if stage is not None:
            self.stage = stage

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(GheBackupError):
    """Bad configuration or bad input: nothing was built, pushed or deployed."""

    exit_code = ExitCode.BAD_INPUT


class UsageError(ConfigError):
    """Bad command-line input."""


class StageFailed(GheBackupError):
    """A pipeline stage ran and failed."""

    exit_code = ExitCode.FAILED


class Unreachable(GheBackupError):
    """An engine, registry, agent or AWS endpoint could not be reached.

    ``what`` names it the way a person would look for it ("Lizzy at https://...", "AWS at ...");
    ``maybe_done``: a request reached it and no answer came back, so it may have been carried out.
    """

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, message: str, *, what: str | None = None, maybe_done: bool = False, **options: str | None):
        super().__init__(message, **options)
        self.what, self.maybe_done = what, maybe_done


class Locked(GheBackupError):
    """The account's deploy lock is held (or stale): nothing was changed."""

    exit_code = ExitCode.LOCKED


class Attention(GheBackupError):
    """Not a failure: something needs attention (a pending change, a stale account); exit 5 when asked for."""

    exit_code = ExitCode.ATTENTION
