"""Engines and transactions: SQLite tuned for a minutely writer racing people's CLI calls.

Every connection gets WAL (readers never block the tick), a 10 s busy timeout, foreign keys and
synchronous=NORMAL (durable at each WAL checkpoint, safe against corruption on power loss).
Write transactions begin with `BEGIN IMMEDIATE` (SQLAlchemy's pysqlite recipe): the default
deferred BEGIN fails at once with "database is locked" when a read upgrades to a write. A BEGIN
IMMEDIATE that still finds the lock taken after the busy timeout is retried until `LOCK_WAIT_S`
(nothing was done yet, so a retry is safe): SQLite's busy handler is no queue, and a waiter can be
overtaken for longer than one timeout on a loaded machine.

Before an engine touches a SQLite file, `open_database` looks at it (`dbfile.inspect`): wattplan
writes only into a missing or empty file or its own database, never into another program's file or a
damaged one, and a file it may not write is read without leaving `-wal`/`-shm` files behind.
`open_database(write=True)` is the one door of every command that writes: it runs `PRAGMA
quick_check` (linear in the file: ~80 ms for 16 MB, under 2 ms for a home's first weeks), refuses a
file this process may not write before SQLite creates `-wal`/`-shm` beside it, and gives existing
`-wal`/`-shm` files the database's mode. A read engine (`write=False`) never writes: no switch to WAL
(which rewrites the header of a file in rollback mode) and `PRAGMA query_only`.
"""

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

import migrations
from reconcile.errors import BusyError, NotMigratedError, ReconcileError
from reconcile.shell import dbfile
from reconcile.shell.config import DB_FILENAME, sqlite_path

BUSY_TIMEOUT_MS = 10_000
LOCK_WAIT_S = 30.0  # the longest a write transaction waits for the write lock, retries included
READ_ONLY = "wattplan_read_only"  # execution option: this connection only reads, BEGIN deferred


def make_engine(url: str, *, write: bool = True) -> Engine:
    """An engine for `url`; `write=False` opens plain deferred transactions for read-only views."""
    path = sqlite_path(url)
    if path is not None and write and not path.parent.is_dir():
        raise ReconcileError(f"cannot create the database: directory {path.parent} does not exist")
    if path is not None and not write and path.exists() and not dbfile.writable(path):
        uri = dbfile.read_only_uri(path)  # no -wal/-shm left behind with the file's read-only mode
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False))
    else:
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if path else {})
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, write=write)
    return engine


def open_database(url: str, *, write: bool = True, migrated: bool = True, create: bool = False,
                  app_dir: Path | None = None) -> Engine:
    """The engine of the database at `url`. Unless `create`, the database must exist and (`migrated`)
    be at the newest revision. With `create`, a missing SQLite file is created (`create_sqlite_file`),
    and so is `app_dir` (0700: the user's app directory) when the file is the default one in it."""
    path = sqlite_path(url)
    if create and app_dir is not None and path == (app_dir / DB_FILENAME).resolve():
        app_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path is not None:
        _check_file(path, create=create, write=write)
    engine = make_engine(url, write=write)
    if path is not None and create:
        create_sqlite_file(path)
    if migrated and not create:
        require_head(engine)
    return engine


def _check_file(path: Path, *, create: bool, write: bool = True) -> None:
    """Refuse, in one line, a file wattplan must not use: see `dbfile`. Before any write (`write`,
    `create`) the file's pages are checked too (`PRAGMA quick_check`), the file must be writable, and
    its `-wal`/`-shm` get its mode."""
    if (write or create) and path.exists() and not dbfile.writable(path):
        raise ReconcileError(f"the database is read-only (this user may not write {path}, mode "
                             f"{path.stat().st_mode & 0o777:04o}); nothing was changed")
    state = translate_errors(dbfile.inspect, path, timeout_s=BUSY_TIMEOUT_MS / 1000, integrity=write or create)
    dbfile.refuse_foreign(path, state)
    if write or create:
        dbfile.align_sidecars(path)
    if state.kind == "own":
        require_known(state.revision)
    if create:
        return
    if state.kind == "missing":
        raise NotMigratedError(f"no database at {path}: create it with `wattplan init` or "
                               "`wattplan db upgrade`")
    if state.kind == "zero":  # a truncated database looks just like this: say so before anything else
        raise NotMigratedError(f"{path} is an empty file (0 bytes), not a database: if it held "
                               "wattplan's data, restore it from a backup; to start a new home in it, "
                               "run `wattplan init --limit POWER --timezone ZONE`")


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


def _tune_sqlite(engine: Engine, *, write: bool) -> None:
    begin = "BEGIN IMMEDIATE" if write else "BEGIN"

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below emit BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        if not write:  # a reader (`status`, `db current`) changes not a byte, not even the header
            cursor.execute("PRAGMA query_only = ON")
        else:
            try:
                cursor.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                pass  # a read-only file keeps its journal mode; reads still work
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        # A read marked READ_ONLY (the schema check) must not queue for the write lock behind a tick.
        if connection.get_execution_options().get(READ_ONLY) or begin == "BEGIN":
            return connection.exec_driver_sql("BEGIN")
        deadline = time.perf_counter() + LOCK_WAIT_S
        while True:
            try:
                return connection.exec_driver_sql(begin)
            except OperationalError as error:  # busy after the whole busy timeout: BEGIN did nothing
                if not is_busy(error) or time.perf_counter() + BUSY_TIMEOUT_MS / 1000 > deadline:
                    raise


def current_revision(engine: Engine) -> str | None:
    """The alembic revision the database is at, or None for an empty database (a plain read)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None  # an empty database (asked first: a failed SELECT aborts PostgreSQL's transaction)
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def require_known(revision: str | None) -> None:
    """Refuse a revision no migration here knows: `db upgrade` could not move it anywhere."""
    if revision is not None and revision not in dbfile.known_revisions():
        raise NotMigratedError(f"the database is at revision {revision}, which this wattplan does not know "
                               f"(its newest is {migrations.HEAD}; a newer wattplan migrated it): run that "
                               "newer wattplan, or give another database with --db")


def require_head(engine: Engine) -> None:
    """Refuse a database that is not at the newest revision (one line, its own exit code)."""
    revision = translate_errors(current_revision, engine)
    require_known(revision)
    if revision != migrations.HEAD:
        found = "has no schema yet" if revision is None else (
            f"is at revision {revision}, not {migrations.HEAD}")
        raise NotMigratedError(f"the database {found}: run `wattplan db upgrade`")


@contextmanager
def transaction_on(connection: Connection, *, write: bool, home: str | None = None) -> Iterator[Session]:
    """One session in one transaction on `connection`: BEGIN IMMEDIATE if `write`, else a plain
    read transaction that never waits for the write lock. Committed on success. `home` is the home
    it acts on (`store.chosen_home`); a write locks that home's row on PostgreSQL (`store.home_row`)."""
    connection.execution_options(**{READ_ONLY: not write})
    with connection.begin(), Session(bind=connection, expire_on_commit=False) as session:
        session.info.update(home=home, lock_home=write and connection.dialect.name == "postgresql")
        yield session


@contextmanager
def transaction(engine: Engine, *, home: str | None = None, write: bool = True) -> Iterator[Session]:
    """One session in one transaction: committed on success, rolled back on any error. `home` and
    `write` as for `transaction_on`."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.info.update(home=home, lock_home=write and engine.dialect.name == "postgresql")
        yield session


def translate_errors(function, *args, **kwargs):
    """Call `function`, turning database failures into one-line `ReconcileError`s."""
    try:
        return function(*args, **kwargs)
    except DBAPIError as error:
        raise database_error(error) from None


def is_busy(error: DBAPIError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock; nothing was done."""
    message = str(error.orig if error.orig is not None else error).lower()
    return "locked" in message or "busy" in message


def database_error(error: DBAPIError) -> ReconcileError:
    """The user-facing error for a failed database operation: transient ones exit BUSY."""
    message = str(error.orig).splitlines()[0] if error.orig is not None else str(error)
    lowered = message.lower()
    if is_busy(error):
        return BusyError(f"database busy for {LOCK_WAIT_S:.0f} s, try again: {message}")
    if "malformed" in lowered or "not a database" in lowered:
        return dbfile.DamagedError(f"the database is damaged ({message}); restore it from a backup")
    if "full" in lowered or "disk i/o" in lowered:
        return BusyError(f"the disk refused the write ({message}); nothing was changed")
    if "readonly" in lowered or "read-only" in lowered:
        return ReconcileError(f"the database is read-only ({message}); nothing was changed")
    if "unable to open" in lowered:
        return ReconcileError(f"cannot open the database ({message})")
    return ReconcileError(f"database error: {message}")
