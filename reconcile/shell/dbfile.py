"""What a SQLite file is before wattplan writes into it: its own database, empty, someone else's, damaged.

Read with the standard library's `sqlite3` on a read-only connection, before any engine connects
(an engine switches the file to WAL). A file wattplan may not write is opened `immutable` when no
`-wal` is beside it, so a read-only `status` leaves no `-wal`/`-shm` files behind (SQLite gives
them the database's mode: a 0444 database would leave 0444 ones that keep it unwritable later).
"""

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import migrations
from reconcile.errors import ReconcileError

HEADER = b"SQLite format 3\x00"
OWN_TABLE = "alembic_version"  # wattplan's migrations made it; no other program's file has it…
OWN_TABLES = {"home", "execution", "tick", "decision"}  # …unless it also has wattplan's tables


class DamagedError(ReconcileError):
    """The file is not an intact SQLite database: nothing is written into it (exit 1)."""


@dataclass(frozen=True, slots=True)
class FileState:
    kind: str  # missing | zero | empty | own | foreign
    revision: str | None = None
    tables: tuple[str, ...] = ()


def known_revisions() -> set[str]:
    """The revisions this wattplan's migrations know, without importing alembic (files NNNN_*.py)."""
    versions = Path(migrations.__file__).parent / "versions"
    return {p.name.split("_", 1)[0] for p in versions.glob("[0-9]*_*.py")}


def writable(path: Path) -> bool:
    """Whether this process may write the file: a write bit set and access granted (root has both)."""
    try:
        return bool(path.stat().st_mode & 0o222) and os.access(path, os.W_OK)
    except OSError:
        return False


def align_sidecars(path: Path) -> None:
    """Give `path`'s `-wal` and `-shm` the database's mode, as SQLite does when it creates them.

    A `-shm` left by a failed write when the database was 0444 stays 0444 after the database is
    made writable again, and SQLite then opens it read-only: every write fails. One this process may
    not change (another user's) is left as it is; the write then fails with its one-line error."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return
    for suffix in ("-wal", "-shm"):
        sidecar = path.with_name(path.name + suffix)
        try:
            if sidecar.stat().st_mode & 0o777 != mode:
                os.chmod(sidecar, mode)
        except OSError:
            pass  # gone meanwhile, or not ours


def read_only_uri(path: Path) -> str:
    """A `file:` URI that reads `path` without creating `-wal`/`-shm` files where none are."""
    path = path.resolve()
    wal = path.with_name(path.name + "-wal")
    return path.as_uri() + ("?mode=ro" if wal.exists() else "?immutable=1")


def connect_read_only(path: Path, timeout_s: float) -> sqlite3.Connection:
    uri = read_only_uri(path) if not writable(path) else path.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout_s)


def inspect(path: Path, *, timeout_s: float = 10.0, integrity: bool = False) -> FileState:
    """What the file at `path` is; raises `DamagedError` for a file that is not an intact SQLite database.

    `integrity` runs `PRAGMA quick_check` (the b-trees and pages: linear in the file's size)."""
    if not path.exists():
        return FileState("missing")
    if path.stat().st_size == 0:
        return FileState("zero")
    with open(path, "rb") as file:
        if file.read(len(HEADER)) != HEADER:
            raise DamagedError(f"{path} is not a SQLite database: give wattplan's database with --db "
                               "or WATTPLAN_DB")
    try:
        connection = connect_read_only(path, timeout_s)
        try:
            state = _classify(connection)
            if integrity and state.kind == "own":
                check_integrity(connection, path)
            return state
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise failure(path, error) from None


def _classify(connection: sqlite3.Connection) -> FileState:
    tables = tuple(sorted(name for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")))
    if not tables:
        return FileState("empty")
    if OWN_TABLE in tables and (set(tables) == {OWN_TABLE} or OWN_TABLES <= set(tables)):
        revision = connection.execute(f"SELECT max(version_num) FROM {OWN_TABLE}").fetchone()[0]
        return FileState("own", revision, tables)
    return FileState("foreign", None, tables)


def check_integrity(connection, path: Path) -> None:
    """`PRAGMA quick_check` on an open sqlite3 connection; raises `DamagedError`."""
    try:
        rows = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as error:
        raise failure(path, error) from None
    if rows != ["ok"]:
        raise damaged(path, "\n".join(rows))


DAMAGE = ("malformed", "not a database", "corrupt")


def failure(path: Path, error: sqlite3.DatabaseError) -> Exception:
    """`DamagedError` for a damaged file; else the error as SQLAlchemy's, which `db.database_error`
    turns into its one line (busy, a full disk or an I/O error: transient, exit 4)."""
    if any(word in str(error).lower() for word in DAMAGE):
        return damaged(path, str(error))
    from sqlalchemy.exc import OperationalError

    return OperationalError(None, None, error)


def damaged(path: Path, why: str) -> DamagedError:
    lines = [line.strip() for line in why.splitlines() if line.strip() and not line.startswith("***")]
    first = lines[0] if lines else "unknown damage"
    return DamagedError(f"the database {path} is damaged ({first}); nothing was written: restore it from "
                        f"a backup, or salvage it with `sqlite3 {path} .recover | sqlite3 NEW.db`")


def refuse_foreign(path: Path, state: FileState) -> None:
    """Refuse a file that holds another program's tables: wattplan never writes into it."""
    if state.kind == "foreign":
        shown = ", ".join(state.tables[:5]) + (", …" if len(state.tables) > 5 else "")
        raise ReconcileError(f"{path} is not a wattplan database (it holds other tables: {shown}); "
                             "nothing was changed: give wattplan's database with --db or WATTPLAN_DB")
