"""wattplan's command line: the app, its global --db and --home options, and its panels of commands.

The commands live in `reconcile/commands/`, one module per help panel; each parses, finds the
database, calls reconcile and renders. Only the CLI layer (this module and that package) reads the
environment and the clock. The database layer, alembic and the scenario loader are imported inside
the commands that need them, so `--help` and `tick` start fast.

The root command (`WattplanGroup`) accepts `--db` and `--home` anywhere on the line and shows every command's
help with plain placeholders (typer 0.29, pinned in pyproject.toml, would print `<bool>`, `<str>`
and `{NAME}`); `--version` prints the installed version.
"""

from typing import Annotated

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from reconcile.commands import appliances, homes, listen, mqtt, plan_scenario, runs, setup_home, try_it, watch  # noqa: F401
from reconcile.commands.base import global_options, option, say


class _PlainArgument(TyperArgument):
    """An argument shown by its metavar alone: `APPLIANCE`, `[KIND]` (typer 0.29 adds `<str>`, `{…}`)."""

    __slots__ = ()

    def display_type_rich(self, ctx):
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        return name if self.required or name.startswith("[") else f"[{name}]"


class _PlainFlag(TyperOption):
    """A flag (`--json`, `--help`) shown without a type: it takes no value (typer 0.29 says `<bool>`)."""

    __slots__ = ()

    def display_type_rich(self, ctx):
        return None if self.is_flag else super().display_type_rich(ctx)


def _plain_params(params: list) -> list:
    """`params` (a command's, `--help` included) shown with the plain classes above."""
    for param in params:
        if type(param) is TyperArgument:
            param.__class__ = _PlainArgument
        elif type(param) is TyperOption and param.is_flag:
            param.__class__ = _PlainFlag
    return params


class _PlainCommand(TyperCommand):
    def get_params(self, ctx):
        return _plain_params(super().get_params(ctx))


class _PlainGroup(TyperGroup):
    def get_params(self, ctx):
        return _plain_params(super().get_params(ctx))


def _plain(command) -> None:
    """The commands under `command` given plain help placeholders (`_plain_params`)."""
    for sub in getattr(command, "commands", {}).values():
        if type(sub) in (TyperCommand, TyperGroup):
            sub.__class__ = _PlainCommand if type(sub) is TyperCommand else _PlainGroup
        _plain(sub)


GLOBAL_OPTIONS = ("--db", "--home")  # the root's options that take a value


def hoist_db(args: list[str]) -> list[str]:
    """`args` with every global option (`--db VALUE`, `--home=VALUE` …) moved to the front, so it may
    follow the command (`wattplan status --db x.db`); nothing after `--` is touched."""
    front, rest, i = [], [], 0
    while i < len(args):
        if args[i] == "--":
            rest.extend(args[i:])
            break
        if args[i] in GLOBAL_OPTIONS:  # with its value; alone at the end, the root says the value is missing
            front += args[i:i + 2]
            i += 2
            continue
        (front if args[i].startswith(tuple(f"{o}=" for o in GLOBAL_OPTIONS)) else rest).append(args[i])
        i += 1
    return front + rest


class WattplanGroup(_PlainGroup):
    """The root command: `--db` anywhere on the line, plain help placeholders in every command."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        _plain(self)

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_db(args))


app = typer.Typer(cls=WattplanGroup, pretty_exceptions_enable=False, no_args_is_help=True,
                  add_completion=False)

HELP = "\n\n".join((  # one line per paragraph: typer keeps line breaks inside later paragraphs
    "Keep a household under its power limit by scheduling appliance runs.",
    "Describe the home (init), its appliances and their programs, ask for runs (enqueue), and let a timer "
    "run `wattplan tick` every minute: it decides what starts, pauses, resumes and stops.",
    "POWER: 2000, 2000W, 2kW. DURATION: 90m, 1h30m, 4h. TIME: ISO 8601 (2026-06-30T18:00) or HH:MM "
    "(the next one), in the home's timezone."))


def _version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            say(f"wattplan {version('wattplan')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            say("wattplan (not installed: no version)")
        raise typer.Exit()


@app.callback(help=HELP)
def options(
    db: Annotated[str | None, option("PATH_OR_URL", "Database file or SQLAlchemy URL (also after the command).", (
        "$WATTPLAN_DB, else $STATE_DIRECTORY/wattplan.db, else wattplan.db in the user's app directory"))
    ] = None,
    home: Annotated[str | None, option("NAME", "The home to act on (also after the command).", (
        "$WATTPLAN_HOME, else the only home"))] = None,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="Print wattplan's version and exit.")] = False,
) -> None:
    global_options["db"] = db
    global_options["home"] = home


# the order of `wattplan --help`
for panel in (setup_home.PANEL, runs.PANEL, watch.PANEL, homes.PANEL, mqtt.PANEL, listen.PANEL, try_it.PANEL,
              plan_scenario.PANEL):
    panel.add_to(app)


def main() -> None:
    app()
