"""Reading a person's text file (scenario, trace, forecast) with a one-line error on failure.

Only a regular file is read (a device, a FIFO or a directory is refused before reading: `/dev/zero`
never ends, a FIFO waits for a writer), and at most `MAX_FILE_BYTES` of it (README, "Bounds"). The
file is opened without blocking and checked on the open descriptor, so it cannot be swapped for a
FIFO between the check and the read. Errors name the file and what is wrong, never its text.
"""

import os
import stat
from pathlib import Path
from typing import BinaryIO

from reconcile.errors import ReconcileError

MAX_FILE_BYTES = 4 * 1024 * 1024


def read_text(path: Path, *, failure: str, encoding: str = "utf-8") -> str:
    """The text of `path`; an unreadable, non-regular, too large or non-UTF-8 file raises
    `ReconcileError("{failure}: why")`."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise ReconcileError(f"{failure}: {error.strerror or error}") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ReconcileError(f"{failure}: not a regular file")
    with os.fdopen(descriptor, "rb") as stream:
        return read_stream(stream, failure=failure, encoding=encoding)


def read_stream(stream: BinaryIO, *, failure: str, encoding: str = "utf-8") -> str:
    """The text of an open binary stream (standard input), at most `MAX_FILE_BYTES` of it."""
    try:
        data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ReconcileError(f"{failure}: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ReconcileError(f"{failure}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, the largest accepted")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise ReconcileError(f"{failure}: not UTF-8 text") from None
