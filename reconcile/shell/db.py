"""Engines and transactions: SQLite tuned for a minutely writer racing people's CLI calls.

Every connection gets WAL (readers never block the tick), a 10 s busy timeout, foreign keys and
synchronous=NORMAL (durable at each WAL checkpoint, safe against corruption on power loss).
Write transactions begin with `BEGIN IMMEDIATE` (SQLAlchemy's pysqlite recipe): the default
deferred BEGIN fails at once with "database is locked" when a read upgrades to a write.
"""

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

import migrations
from reconcile.errors import BusyError, NotMigratedError, ReconcileError
from reconcile.shell.config import DB_FILENAME, sqlite_path

BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "wattplan_read_only"  # execution option: this connection only reads, BEGIN deferred


def make_engine(url: str, *, write: bool = True) -> Engine:
    """An engine for `url`; `write=False` opens plain deferred transactions for read-only views."""
    path = sqlite_path(url)
    if path is not None and write and not path.parent.is_dir():
        raise ReconcileError(f"cannot create the database: directory {path.parent} does not exist")
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if path else {})
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, begin="BEGIN IMMEDIATE" if write else "BEGIN")
    return engine


def open_database(url: str, *, write: bool = True, migrated: bool = True, create: bool = False,
                  app_dir: Path | None = None) -> Engine:
    """The engine of the database at `url`. Unless `create`, the database must exist and (`migrated`)
    be at the newest revision. With `create`, a missing SQLite file is created (`create_sqlite_file`),
    and so is `app_dir` (0700: the user's app directory) when the file is the default one in it."""
    path = sqlite_path(url)
    if create and app_dir is not None and path == (app_dir / DB_FILENAME).resolve():
        app_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path is not None and not create and not path.exists():
        raise NotMigratedError(f"no database at {path}: create it with `wattplan init` or "
                               "`wattplan db upgrade`")
    engine = make_engine(url, write=write)
    if path is not None and create:
        create_sqlite_file(path)
    if migrated and not create:
        require_head(engine)
    return engine


def create_sqlite_file(path: Path) -> None:
    """An empty database file at `path` unless one is there, 0660: the group may write, others get nothing."""
    if path.exists():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660))
        os.chmod(path, 0o660)  # os.open's mode is cut by the umask; SQLite gives -wal/-shm this mode
    except FileExistsError:
        pass
    except OSError as error:
        raise ReconcileError(f"cannot create the database {path}: {error.strerror}") from None


def _tune_sqlite(engine: Engine, *, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below emit BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            pass  # a read-only file keeps its journal mode; reads still work
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        # A read marked READ_ONLY (the schema check) must not queue for the write lock behind a tick.
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else begin)


def current_revision(engine: Engine) -> str | None:
    """The alembic revision the database is at, or None for an empty database (a plain read)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as error:
            if "no such table" in str(error):
                return None
            raise


def require_head(engine: Engine) -> None:
    """Refuse a database that is not at the newest revision (one line, its own exit code)."""
    revision = translate_errors(current_revision, engine)
    if revision != migrations.HEAD:
        found = "has no schema yet" if revision is None else (
            f"is at revision {revision}, not {migrations.HEAD}")
        raise NotMigratedError(f"the database {found}: run `wattplan db upgrade`")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session in one transaction: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def translate_errors(function, *args, **kwargs):
    """Call `function`, turning database failures into one-line `ReconcileError`s."""
    try:
        return function(*args, **kwargs)
    except DBAPIError as error:
        raise database_error(error) from None


def database_error(error: DBAPIError) -> ReconcileError:
    """The user-facing error for a failed database operation: transient ones exit BUSY."""
    message = str(error.orig).splitlines()[0] if error.orig is not None else str(error)
    lowered = message.lower()
    if "locked" in lowered or "busy" in lowered:
        return BusyError(f"database busy, try again: {message}")
    if "full" in lowered or "disk i/o" in lowered:
        return BusyError(f"the disk refused the write ({message}); nothing was changed")
    if "readonly" in lowered or "read-only" in lowered:
        return ReconcileError(f"the database is read-only ({message}); nothing was changed")
    if "unable to open" in lowered:
        return ReconcileError(f"cannot open the database ({message})")
    return ReconcileError(f"database error: {message}")
