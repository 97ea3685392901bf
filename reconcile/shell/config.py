"""Where the database is: resolved from arguments only, so tests never touch the real environment."""

from collections.abc import Mapping
from pathlib import Path

from reconcile.errors import ReconcileError

DB_FILENAME = "wattplan.db"
# What to install for a driver SQLAlchemy imports (the module it could not import -> the advice).
DRIVERS = {
    "psycopg": "pip install 'wattplan[postgres]'",
    "psycopg2": "pip install psycopg2-binary, or use postgresql+psycopg:// with pip install 'wattplan[postgres]'",
    "MySQLdb": "pip install mysqlclient; wattplan is tested on SQLite and PostgreSQL only",
    "pymysql": "pip install pymysql; wattplan is tested on SQLite and PostgreSQL only",
}


def resolve_db_url(option: str | None, environ: Mapping[str, str], user_dir: Path) -> str:
    """The SQLAlchemy URL of the database, first found wins.

    1. `--db` (a path or a URL),
    2. `WATTPLAN_DB` (a path or a URL),
    3. `$STATE_DIRECTORY/wattplan.db` (systemd sets it from `StateDirectory=`; the first entry
       of its colon-separated list),
    4. `user_dir/wattplan.db` (the CLI passes `typer.get_app_dir("wattplan")`).
    """
    for candidate in (option, environ.get("WATTPLAN_DB")):
        if candidate:
            return as_url(candidate)
    state_dir = environ.get("STATE_DIRECTORY")
    if state_dir:
        return as_url(str(Path(state_dir.split(":")[0]) / DB_FILENAME))
    return as_url(str(user_dir / DB_FILENAME))


def as_url(path_or_url: str) -> str:
    """`sqlite:///abs/path` for a path (escaped: a '?' or '%' in it stays part of the path);
    a URL (anything with `://`) unchanged, once its driver is known to be installed."""
    if "://" in path_or_url:
        check_driver(path_or_url)
        return path_or_url
    from sqlalchemy.engine import URL

    path = str(Path(path_or_url).expanduser().resolve())
    return URL.create("sqlite", database=path).render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    """The file behind a `sqlite:///` URL, or None for another database or in-memory SQLite."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_driver(url: str) -> None:
    """Refuse, in one line that never shows the password, a URL SQLAlchemy cannot parse, a database
    kind it does not know, or one whose driver is not installed (saying what to install)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except NoSuchModuleError:  # a kind of ArgumentError: first
        raise ReconcileError(f"unknown database kind {parsed.drivername!r}: use sqlite:// or "
                             "postgresql+psycopg://") from None
    except ArgumentError:
        raise ReconcileError("the database URL is not a SQLAlchemy URL (dialect+driver://user@host/name)") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        module = (error.name or "").split(".")[0] or parsed.get_driver_name()
        advice = DRIVERS.get(module, f"pip install {module}")
        raise ReconcileError(f"a {parsed.drivername}:// database needs the Python module {module}, "
                             f"which is not installed: {advice}") from None
