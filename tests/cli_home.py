"""The command line on real SQLite files: how tests run it, and the homes they run it on.

The fixtures (`db`, `home`, `washer`, `heater`) reach every test module through `conftest.py`'s
`pytest_plugins`; a module with a `db` fixture of its own keeps its own.
"""

import re
import sqlite3

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
T0 = "2026-06-30T08:00"  # Europe/Berlin, naive: read in the home's timezone (06:00 UTC)


def wattplan(*args, code: int = 0):
    """Run the CLI; assert the exit code (and, on success, an empty stderr)."""
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    if code == 0:
        assert result.stderr == ""
    return result


def error(*args, code: int = 1) -> str:
    """The one line a failing command prints on stderr (nothing on stdout)."""
    result = wattplan(*args, code=code)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def rows(db, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def count(db, table: str) -> int:
    return rows(db, f"SELECT count(*) FROM {table}")[0][0]


def lines(text: str) -> str:
    """Rich pads table cells: compare without trailing spaces."""
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "wattplan.db"
    monkeypatch.setenv("WATTPLAN_DB", str(path))
    return path


@pytest.fixture
def home(db):
    """A 4.6 kW home in Berlin with a 300 W reserve: 4.3 kW of capacity in every slot."""
    wattplan("init", "--limit", "4.6kW", "--timezone", "Europe/Berlin", "--reserve", "300W")
    return db


@pytest.fixture
def washer(home):
    wattplan("appliance", "add", "washer", "--max-delay", "6h")
    wattplan("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h30m")
    return home


@pytest.fixture
def heater(washer):
    """A pausable 3 kW heater beside the washer: both cannot run at once under 4.3 kW."""
    wattplan("appliance", "add", "heater", "--interruptible", "--min-run", "5m", "--min-pause", "5m",
             "--priority-class", "3")
    wattplan("profile", "add", "heater", "boost", "--watts", "3kW,3kW,3kW", "--slot", "10m")
    return washer


def tick(at: str = T0) -> str:
    return re.sub(r"\(\d+ ms\)", "(N ms)", wattplan("tick", "--now", at).stdout)
