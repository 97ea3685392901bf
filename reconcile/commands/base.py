"""What every command shares: the two consoles, one-line errors, option types, the clock, the database.

Only the CLI layer (`cli.py` and this package) reads the environment and the clock. Every error is one
line on stderr with an exit code of `reconcile.errors.ExitStatus`. The database layer, alembic and the
presentation are imported inside the functions that need them, so `--help` and `tick` start fast.
"""

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from reconcile.errors import ReconcileError
from reconcile.shell.config import resolve_db_url
from reconcile.units import parse_duration, parse_power, parse_time


class LazyConsole:
    """A rich `Console` made on first use: the commands that print one plain line (`tick`, most of
    them) never import rich.console, a fifth of the time `wattplan tick` spends beyond its imports."""

    def __init__(self, *, stderr: bool = False) -> None:
        self.stderr = stderr
        self._console = None

    @property
    def rich(self):
        """The rich Console itself, for what needs one (a progress bar)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stderr)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self.rich, name)


out = LazyConsole()
err = LazyConsole(stderr=True)
# The characters rich's Console strips from text (rich.control.strip_control_codes), stripped here too.
_CONTROL_CODES = dict.fromkeys((7, 8, 11, 12, 13))
global_options: dict[str, str | None] = {"db": None, "home": None}  # set by the app's callback in cli.py


def option(metavar: str, help: str, shown: str | None = None, *names: str):
    """An option whose text wattplan parses itself (one-line errors): a POWER, DURATION, TIME …"""
    return typer.Option(*names, metavar=metavar, help=help, show_default=shown or False)


Json = Annotated[bool, typer.Option("--json", help="Print JSON instead (keys: README, Command reference).")]
Now = Annotated[str | None, option("TIME", "Act as if it were TIME (for tests and replays).", "the clock")]
Id = Annotated[int, typer.Argument(metavar="ID", help="The execution's id (`wattplan list` shows it).")]
Name = Annotated[str, typer.Argument(metavar="APPLIANCE", help="The appliance's name.")]


class Panel:
    """The commands and command groups of one help panel, in the order written; `add_to` registers them."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.commands: list[tuple[str | None, Callable]] = []
        self.groups: list[tuple[str, typer.Typer]] = []

    def command(self, name: str | None = None):
        """A top-level command of this panel, its errors made one line (`one_line_errors`)."""

        def register(function):
            self.commands.append((name, one_line_errors(function)))
            return function

        return register

    def group(self, name: str, help: str) -> typer.Typer:
        """A command group of this panel (`wattplan NAME COMMAND`); add its commands with `command`."""
        group = typer.Typer(no_args_is_help=True, help=help)
        self.groups.append((name, group))
        return group

    def add_to(self, app: typer.Typer) -> None:
        for name, function in self.commands:
            app.command(name, rich_help_panel=self.title)(function)
        for name, group in self.groups:
            app.add_typer(group, name=name, rich_help_panel=self.title)


def command(group: typer.Typer, name: str | None = None):
    """Register a command of a group, its errors made one line (`one_line_errors`)."""
    return lambda function: group.command(name)(one_line_errors(function))


def one_line_errors(function):
    """`function` with its `ReconcileError`s and database or file failures turned into one line."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ReconcileError as error:
            fail(error)
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as error:
            fail(ReconcileError(f"{error.strerror}: {error.filename}"))
        except Exception as error:
            from sqlalchemy.exc import DBAPIError

            from reconcile.shell.db import database_error

            if isinstance(error, DBAPIError):
                fail(database_error(error))
            raise

    return wrapper


def fail(error: ReconcileError) -> None:
    say(f"error: {error}", console=err)
    raise typer.Exit(int(error.status))


def say(text: str, *, console: LazyConsole = out) -> None:
    """One line of plain text (no markup, no highlighting, no wrapping) on the console's stream."""
    stream = sys.stderr if console.stderr else sys.stdout
    stream.write(text.translate(_CONTROL_CODES) + "\n")
    stream.flush()


def clock() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def engine(*, write: bool = True, migrated: bool = True, create: bool = False):
    """The database's engine (`reconcile.shell.db.open_database`), found as `resolve_db_url` says."""
    from reconcile.shell.db import open_database

    user_dir = Path(typer.get_app_dir("wattplan"))
    url = resolve_db_url(global_options["db"], os.environ, user_dir)
    return open_database(url, write=write, migrated=migrated, create=create, app_dir=user_dir)


def home_name() -> str | None:
    """The home commands act on: `--home`, else `WATTPLAN_HOME`, else None (the only home)."""
    return global_options["home"] or os.environ.get("WATTPLAN_HOME") or None


@contextmanager
def session(*, write: bool = True, target=None) -> Iterator:
    """One transaction on the existing, migrated database (or `target`, an engine), acting on
    `home_name()`'s home, committed when the block succeeds."""
    from reconcile.shell.db import transaction

    with transaction(target or engine(write=write), home=home_name(), write=write) as s:
        yield s


def power(text: str | None, what: str) -> float | None:
    return None if text is None else parse_power(text, what=what)


def seconds(text: str | None, what: str) -> int | None:
    return None if text is None else parse_duration(text, what=what)


def moments(s, now: str | None, **texts: str | None):
    """(zone, now, {name: instant}): times read in the home's timezone, HH:MM as the next one."""
    from zoneinfo import ZoneInfo

    from reconcile.shell.store import load_home

    zone, wall = ZoneInfo(load_home(s).timezone), clock()
    at = parse_time(now, now=wall, zone=zone, what="--now") if now else wall
    parsed, after = {}, at
    for name, text in texts.items():  # a later option's HH:MM is the next one after the earlier's
        what = "--" + name.replace("_", "-")
        parsed[name] = parse_time(text, now=after, zone=zone, what=what) if text else None
        after = max(after, parsed[name] or after)
    return zone, at, parsed


def emit(data, as_json: bool, renderable=None) -> None:
    """`data` as JSON with --json, else the rich `renderable`."""
    from reconcile.presentation.render import to_json

    if as_json:
        say(to_json(data))
    elif renderable is not None:
        out.print(renderable)
