"""The commands and the meter reading a tick received, written in the tick's own transaction.

`Inbox` is the tick's `before_plan`: it runs under the write lock before the plan is made, so a
request received now is planned by this very tick. Each command goes through the same functions
as `wattplan enqueue`, `cancel` and `done`. A command with an `id` already applied is skipped
(the broker redelivers what a killed tick never acknowledged); a bad one becomes a `rejected`
row and a count on the journal line, never a failed tick.
"""

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlmodel import Session

from models import Appliance, Execution, MqttCommand
from reconcile.adapters.mqtt.meter import read_meter
from reconcile.adapters.mqtt.settings import SETTINGS, Settings
from reconcile.adapters.mqtt.topics import Message, parse_command_topic, parse_payload, printable, segment
from reconcile.errors import ReconcileError
from reconcile.planner.domain import OPEN_STATES, Meter
from reconcile.shell import requests
from reconcile.units import parse_duration, parse_time

COMMANDS = MqttCommand.__table__
METER_GRACE_S = 60  # a run switched on within this before a reading may not draw yet (planner.meter)


@dataclass
class Inbox:
    settings: Settings
    commands: list[Message] = field(default_factory=list)
    meter: Message | None = None
    applied: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)  # why, for the journal line
    meter_problem: str | None = None
    reading: Meter | None = None

    def __call__(self, session: Session, home, now: datetime) -> None:
        zone = ZoneInfo(home.timezone)
        names = {segment(name): name for name, in session.execute(
            select(Appliance.name).where(Appliance.home_id == home.id).order_by(Appliance.id.desc()))}
        for message in self.commands:
            self._apply(session, home.id, names, message, now, zone)
        self.reading = self._read_meter(session, now, zone)
        session.info["meter"] = self.reading  # store.load_snapshot hands it to the planner

    def _apply(self, session, home_id, names, message: Message, now, zone) -> None:
        command_id, execution_id = None, None
        try:
            appliance, action = parse_command_topic(self.settings.prefix, message.topic) or (None, None)
            if appliance not in names:
                raise ValueError(f"no appliance {appliance!r} in this home" if action else "not a command topic")
            body = parse_payload(action, message.payload)
            command_id = body.get("id")
            if command_id is not None and _applied_before(session, home_id, command_id):
                self.duplicates += 1
                return
            execution_id, said = _do(session, home_id, names[appliance], action, body, now, zone)
            status = "applied"
            self.applied += 1
        except (ValueError, ReconcileError) as error:
            status, said = "rejected", str(error)
            self.rejected.append(f"{message.topic[:80]}: {said}")
        session.execute(insert(COMMANDS).values(
            home_id=home_id, received_at=now, topic=message.topic[:300], command_id=command_id, status=status,
            reason=said, execution_id=execution_id, payload=printable(message.payload)))

    def _read_meter(self, session, now: datetime, zone) -> Meter | None:
        s = self.settings
        if not s.meter_topic:
            return None
        watts, at = s.meter_w, s.meter_at
        if self.meter is not None:
            try:
                value, measured = read_meter(self.meter.payload, key=s.meter_key, unit=s.meter_unit, zone=zone)
            except ValueError as error:
                self.meter_problem = str(error)
            else:
                # Without a time in it: a retained value already seen keeps its first sighting's time
                # (a dead meter's last value ages out); anything else was measured about now.
                if measured is None:
                    measured = at if (self.meter.retain and value == watts and at is not None) else now
                watts, at = value, min(measured, now)
                session.execute(update(SETTINGS).where(SETTINGS.c.home_id == s.home_id).values(
                    meter_w=watts, meter_at=at))
        return Meter(watts, at, s.meter_max_age_s, METER_GRACE_S)

    def summary(self) -> str:
        said = f"mqtt: {self.applied} applied"
        said += f", {self.duplicates} already applied" if self.duplicates else ""
        said += f", {len(self.rejected)} rejected ({self.rejected[0]})" if self.rejected else ""
        said += f"; meter: {self.meter_problem}" if self.meter_problem else ""
        return said


def _applied_before(session, home_id: int, command_id: str) -> bool:
    return session.execute(select(COMMANDS.c.id).where(
        COMMANDS.c.home_id == home_id, COMMANDS.c.command_id == command_id,
        COMMANDS.c.status == "applied").limit(1)).first() is not None


def _do(session, home_id: int, appliance: str, action: str, body: dict, now: datetime, zone) -> tuple[int, str]:
    """Apply one command: (execution id, what was done)."""
    if action == "request":
        within = body.get("within")
        request = requests.Request(
            appliance=appliance, program=body.get("program"),
            not_before=_time(body.get("not_before"), now, zone, "not_before"),
            within_s=None if within is None else parse_duration(str(within), what="within"),
            by=_time(body.get("by"), now, zone, "by"), priority_class=body.get("priority_class"),
            objective=body.get("objective"))
        execution = requests.enqueue(session, now=now, request=request)
        return execution.id, f"enqueued execution #{execution.id}"
    execution_id = body.get("execution_id") or _open_run(session, home_id, appliance, action)
    requests.end(session, now=now, execution_id=execution_id, reason="cancelled" if action == "cancel" else "done")
    return execution_id, f"{'cancelled' if action == 'cancel' else 'done'} execution #{execution_id}"


def _open_run(session, home_id: int, appliance: str, action: str) -> int:
    """The run a cancel or done without an id means: the appliance's running or paused run, else
    (cancel only) its oldest pending one."""
    states = ("running", "paused") if action == "done" else OPEN_STATES
    rows = session.execute(select(Execution.id, Execution.state).join(
        Appliance, Appliance.id == Execution.appliance_id).where(
        Appliance.home_id == home_id, Appliance.name == appliance, Execution.state.in_(states))
        .order_by(Execution.id)).all()
    rows.sort(key=lambda row: row.state == "pending")
    if not rows:
        raise ReconcileError(f"{appliance} has no {'started' if action == 'done' else 'open'} run")
    return rows[0].id


def _time(text: str | None, now: datetime, zone, what: str) -> datetime | None:
    return None if text is None else parse_time(text, now=now, zone=zone, what=what)
