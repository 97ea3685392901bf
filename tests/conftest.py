"""Shared fixtures: a real, migrated SQLite file per test; time is always a parameter."""

import os
from datetime import UTC, datetime

import pytest
from hypothesis import settings

from reconcile.shell import catalog
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.migrate import upgrade
from tests.workers import Reaper

# CI replays the same examples every run (derandomize): a rare counter-example found by a random
# run locally is a bug to file and fix, not a CI run that fails one time in twenty-five.
# Loaded here, before the test modules build their own settings on top of the default profile.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

T0 = datetime(2026, 6, 30, 6, 0, tzinfo=UTC)
# The command line's homes (`db`, `home`, `washer`, `heater`) for the CLI test modules.
pytest_plugins = ["tests.cli_home"]


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "wattplan.db"


@pytest.fixture
def engine(db_path):
    """A migrated, empty database file."""
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def home_engine(engine):
    """A database with a 4.6 kW home (300 W reserve) in Europe/Berlin, created at T0."""
    with transaction(engine) as session:
        catalog.init_home(session, now=T0, limit_w=4600, timezone="Europe/Berlin", reserve_w=300)
    return engine


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """No test reads the developer's real database or environment."""
    for name in ("WATTPLAN_DB", "STATE_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WATTPLAN_DB", str(tmp_path / "env.db"))


@pytest.fixture
def reaper():
    """Start processes with `reaper.popen(argv)` or `reaper.process(context, …)`: all are killed
    (their whole process group) and waited for when the test ends, also when it fails."""
    reaping = Reaper()
    try:
        yield reaping
    finally:
        reaping.reap()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the whole session (tests/postgres.py), stopped at its end."""
    from tests.postgres import server_or_skip

    server = server_or_skip()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server):
    """The URL of a new, empty PostgreSQL database on the session's server."""
    return postgres_server.create_database()
