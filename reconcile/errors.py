"""Exit statuses and the one exception type the shell turns into a one-line error."""

from enum import IntEnum


class ExitStatus(IntEnum):
    """Documented exit codes of every `wattplan` command (README, "Exit codes")."""

    OK = 0  # done, including "nothing to do"
    ERROR = 1  # an expected error: bad input, unknown name, impossible request
    USAGE = 2  # click's own usage errors (unknown option, missing argument)
    NOT_MIGRATED = 3  # the database is not at the newest schema revision
    BUSY = 4  # transient: the database is locked or the disk refused a write; retry next tick
    STALE = 5  # `status --check`: the last successful tick is too old
    BROKER = 6  # the MQTT broker could not be reached: a tick still committed (nothing published)


class ReconcileError(Exception):
    """An error a user can cause; the CLI prints `str(error)` as one line and exits with `status`."""

    status = ExitStatus.ERROR

    def __init__(self, message: str, status: ExitStatus | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class NotMigratedError(ReconcileError):
    status = ExitStatus.NOT_MIGRATED


class BusyError(ReconcileError):
    status = ExitStatus.BUSY
