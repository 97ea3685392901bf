"""How the input tests run the CLI: exact one-line refusals that change nothing, and their home."""

import sqlite3

from typer.testing import CliRunner

from cli import app

runner = CliRunner()
T0 = "2026-06-30T08:00"


def wattplan(*args, code: int = 0, input: str | None = None, env: dict | None = None):
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False, input=input, env=env)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def dump(db) -> str:
    """Every row of the database, to show that a refused command changed nothing."""
    with sqlite3.connect(db) as connection:
        return "\n".join(connection.iterdump())


def refused(db, *args, message: str, code: int = 1, input: str | None = None) -> None:
    """`args` fails with exactly `error: message` on stderr, nothing on stdout, and no change."""
    before = dump(db)
    result = wattplan(*args, code=code, input=input)
    assert (result.stdout, result.stderr) == ("", f"error: {message}\n")
    assert "Traceback" not in result.output
    assert dump(db) == before


def washer_home(tmp_path, monkeypatch):
    """The `db` of the input tests: a 6.9 kW home in Berlin with a washer and its eco program."""
    path = tmp_path / "wattplan.db"
    monkeypatch.setenv("WATTPLAN_DB", str(path))
    wattplan("init", "--limit", "6.9kW", "--timezone", "Europe/Berlin")
    wattplan("appliance", "add", "washer")
    wattplan("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h30m")
    return path


def executions(db) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT count(*) FROM execution").fetchone()[0]
