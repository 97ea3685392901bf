"""Many homes: `home list`, `tick --all` (in watch.py) and `worker`, the loop that shares homes."""

import signal
import time
from typing import Annotated

import typer

from reconcile.commands.base import Json, Panel, clock, command, emit, engine, err, option, say, seconds, session
from reconcile.commands.mqtt import mqtt_tick
from reconcile.errors import ExitStatus, ReconcileError

PANEL = Panel("Many homes")
home_app = PANEL.group("home", help="List the homes of the database (choose one with --home NAME).")


@command(home_app, "list")
def home_list(as_json: Json = False) -> None:
    """List the homes: limit, time zone, objective, open runs and when each was last ticked."""
    from reconcile.presentation.render import homes
    from reconcile.shell.homes import list_homes

    with session(write=False) as s:
        rows = list_homes(s)
    emit(rows, as_json, homes(rows, clock()))


@PANEL.command()
def worker(
    every: Annotated[str, option("DURATION", "How often each home is ticked.", "1m")] = "1m",
    keep: Annotated[str, option("DURATION", "Prune ticks and decisions older than this (0: keep all).", "90d")
                    ] = "90d",
) -> None:
    """Tick every home of the database each period, until stopped (SIGTERM, SIGINT); run several."""
    from reconcile.shell.db import require_head
    from reconcile.shell.homes import work

    period_s = seconds(every, "--every")
    if not 1 <= period_s <= 3600:
        raise ReconcileError(f"--every {every} must be between 1s and 1h")
    keep_s = keep_seconds(keep)
    target = engine()
    require_head(target)

    def tick_home(name: str, now) -> str:
        return tick_one(target, home=name, now=now, ran_at=now, keep_s=keep_s).summary()

    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):  # finish the home being ticked, then leave
        signal.signal(sig, lambda number, _frame: stopping.append(number))
    say(f"worker: ticking every home every {every}")
    done = work(target, period_s=period_s, clock=clock, sleep=time.sleep, running=lambda: not stopping,
                tick_home=tick_home, report=_report, say=lambda line: say(line, console=err))
    say(f"worker: stopped after {done} home-ticks")


def _report(claimed) -> None:
    if claimed.error is not None:
        say(f"{claimed.home}: error: {claimed.error}", console=err)
    else:
        say(f"{claimed.home}: {claimed.line}")


def tick_all(at, keep_s: int | None) -> None:
    """`wattplan tick --all`: each home once, in name order; a home that fails does not stop the
    others, and the exit code is the highest of the failures'."""
    from reconcile.shell.homes import home_names

    target = engine(migrated=False)
    worst = ExitStatus.OK
    for name in home_names(target):
        try:
            report = tick_one(target, home=name, now=at, ran_at=clock(), keep_s=keep_s)
        except ReconcileError as error:
            say(f"{name}: error: {error}", console=err)
            worst = max(worst, error.status)
            continue
        say(f"{name}: {report.summary()}")
        if getattr(report, "broker_problem", None):
            worst = max(worst, ExitStatus.BROKER)
    if worst:
        raise typer.Exit(int(worst))


def tick_one(target, *, home: str | None, now, ran_at, keep_s: int | None):
    """The tick of one home, as `wattplan tick` makes it: through the broker when the home has MQTT
    configured (an `MqttTickReport`, issue 12), else the plain `TickReport`. Both have `summary()`."""
    from reconcile.shell.tick import run_tick

    mqtt = mqtt_tick(target, now=now, ran_at=ran_at, keep_s=keep_s, home=home)
    return mqtt or run_tick(engine=target, now=now, ran_at=ran_at, keep_s=keep_s, home=home)


def keep_seconds(keep: str) -> int | None:
    """`--keep`: None for 0 (keep all), else at least a day (`decisions` shows the last 24 hours)."""
    keep_s = None if keep.strip() == "0" else seconds(keep, "--keep")
    if keep_s is not None and keep_s < 86400:
        raise ReconcileError(f"--keep {keep} is under a day: `decisions` shows the last 24 hours")
    return keep_s
