"""Reading a person's text file (scenario, trace, forecast) with a one-line error on failure."""

from pathlib import Path

from reconcile.errors import ReconcileError


def read_text(path: Path, *, failure: str, encoding: str = "utf-8") -> str:
    """The text of `path`; an unreadable or non-UTF-8 file raises `ReconcileError("{failure}: why")`."""
    try:
        return path.read_text(encoding=encoding)
    except OSError as error:
        raise ReconcileError(f"{failure}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ReconcileError(f"{failure}: not UTF-8 text") from None
