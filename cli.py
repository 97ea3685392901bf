"""wattplan's command line: the app, its global --db option, and its four panels of commands.

The commands live in `reconcile/commands/`, one module per help panel; each parses, finds the
database, calls reconcile and renders. Only the CLI layer (this module and that package) reads the
environment and the clock. The database layer, alembic and the scenario loader are imported inside
the commands that need them, so `--help` and `tick` start fast.
"""

from typing import Annotated

import typer

from reconcile.commands import runs, setup_home, try_it, watch
from reconcile.commands.base import global_options, option

app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True, add_completion=False)

HELP = "\n\n".join((  # one line per paragraph: typer keeps line breaks inside later paragraphs
    "Keep a household under its power limit by scheduling appliance runs.",
    "Describe the home (init), its appliances and their programs, ask for runs (enqueue), and let a timer "
    "run `wattplan tick` every minute: it decides what starts, pauses, resumes and stops.",
    "POWER: 2000, 2000W, 2kW. DURATION: 90m, 1h30m, 4h. TIME: ISO 8601 (2026-06-30T18:00) or HH:MM "
    "(the next one), in the home's timezone."))


@app.callback(help=HELP)
def options(db: Annotated[str | None, option("PATH_OR_URL", "Database file or SQLAlchemy URL.", (
        "$WATTPLAN_DB, else $STATE_DIRECTORY/wattplan.db, else wattplan.db in the user's app directory"))
        ] = None) -> None:
    global_options["db"] = db


for panel in (setup_home.PANEL, runs.PANEL, watch.PANEL, try_it.PANEL):  # the order of `wattplan --help`
    panel.add_to(app)


def main() -> None:
    app()
