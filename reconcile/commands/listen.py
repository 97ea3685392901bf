"""The long-running MQTT processes: `listen` (a command wakes the tick at once) and `guard` (a spike
pauses a pausable run). Both run until SIGTERM (exit 0), reconnect to the broker with backoff by
themselves, and exit 1 on a configuration error (no MQTT, no meter topic, a host name that can
never resolve), which their units do not restart on (`RestartPreventExitStatus=`).
"""

import signal
from typing import Annotated

from reconcile.commands.base import Panel, clock, err, home_name, option, say, seconds
from reconcile.errors import ReconcileError

PANEL = Panel("MQTT and Home Assistant")


@PANEL.command()
def listen() -> None:
    """Run the tick within seconds of a command on MQTT (a pressed button), instead of at the next minute."""
    import time

    from reconcile.adapters.mqtt.listen import Listener
    from reconcile.commands.homes import keep_seconds, tick_one

    target, found, password = _configured("listen")
    home, keep_s = home_name(), keep_seconds("90d")  # the timer's tick's default

    def tick() -> str:
        try:
            return tick_one(target, home=home, now=clock(), ran_at=clock(), keep_s=keep_s).summary()
        except ReconcileError as error:  # busy, damaged …: the timer's next tick retries; keep listening
            return f"tick failed: {error}"

    Listener(settings=found, password=password, tick=tick, say=_journal, monotonic=time.monotonic).run(_stop())


@PANEL.command()
def guard(grace: Annotated[str, option("DURATION", "How long import may stay above the limit.", "10s")] = "10s"
          ) -> None:
    """Watch the meter; when import stays above the limit, pause the lowest-priority pausable run."""
    import time
    from datetime import UTC, datetime

    from reconcile.adapters.mqtt.guard import Guard

    grace_s = seconds(grace, "--grace")
    target, found, password = _configured("guard")
    Guard(engine=target, home=home_name(), settings=found, password=password, grace_s=grace_s,
          monotonic=time.monotonic, wall=lambda: datetime.now(UTC), say=_journal).run(_stop())


def _configured(what: str):
    """(engine, the home's MQTT settings, the password or None); a ReconcileError without MQTT. Read
    once at start: `systemctl restart` after `wattplan mqtt set` (each tick reads them anew)."""
    from reconcile.adapters.mqtt import settings
    from reconcile.commands.base import engine

    target = engine(migrated=True)
    with settings.reading(target, home_name()) as s:
        found = settings.load(s)
    if found is None:
        raise ReconcileError(f"{what} needs MQTT: `wattplan mqtt set --broker mqtt://HOST:PORT`")
    password = settings.read_password(found.password_file) if found.password_file else None
    return target, found, password


def _stop():
    """A `Stop` set by SIGTERM (systemd) and SIGINT (Ctrl-C): the loop ends cleanly, exit 0."""
    from reconcile.adapters.mqtt.loop import Stop

    stop = Stop()
    signal.signal(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, stop.set)
    return stop


def _journal(line: str) -> None:
    """The processes' lines go to stderr: the journal keeps them, stdout stays free."""
    say(line, console=err)
