"""The commands and the meter reading a tick received, written in the tick's own transaction.

`Inbox` is the tick's `before_plan`: it runs under the write lock before the plan is made, so a
request received now is planned by this very tick. A command's topic leads to an appliance by its
stored topic id; `commands.apply_command` does what it asks through the same functions as
`wattplan enqueue`, `cancel` and `done`.

Invariant: every command received is recorded exactly once, `applied` or `rejected`, or counted
as already applied (an `id` seen applied before: the broker redelivers what a killed tick never
acknowledged). Whatever a message holds, handling it raises nothing but the database's own
failures: any other exception (a bound broken, RecursionError, OverflowError, a bug) rolls back
that command's savepoint and becomes a `rejected` row with a one-line reason, so the message is
acknowledged with the commit and never delivered again. A bad meter payload is a meter problem on
the journal line; the tick goes on with the last good reading, which ages.
"""

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlmodel import Session

from models import Appliance, MqttCommand
from reconcile.adapters.mqtt.commands import apply_command
from reconcile.adapters.mqtt.meter import check_not_ahead, read_meter
from reconcile.adapters.mqtt.settings import SETTINGS, Settings
from reconcile.adapters.mqtt.topics import Message, command_topic, parse_payload, printable
from reconcile.errors import ReconcileError
from reconcile.planner.domain import Meter

COMMANDS = MqttCommand.__table__
METER_GRACE_S = 60  # a run switched on within this before a reading may not draw yet (planner.meter)
MAX_REASON_CHARS = 300


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
        appliances = {row.topic_id: row for row in session.execute(
            select(Appliance).where(Appliance.home_id == home.id)).scalars() if row.topic_id}
        for message in self.commands:
            self._apply(session, home.id, appliances, message, now, zone)
        self.reading = self._read_meter(session, now, zone)
        session.info["meter"] = self.reading  # store.load_snapshot hands it to the planner

    def _apply(self, session, home_id: int, appliances: dict, message: Message, now: datetime, zone) -> None:
        command_id, execution_id = None, None
        try:
            with session.begin_nested():  # a command that fails leaves nothing of itself behind
                topic_id, action = command_topic(self.settings.prefix, message.topic)
                appliance = appliances.get(topic_id)
                if appliance is None:
                    raise ValueError(f"no appliance {_quoted(topic_id)} in this home (topics name appliances by "
                                     "their topic id)")
                body = parse_payload(action, message.payload)
                command_id = body["id"]
                if command_id is not None and _applied_before(session, home_id, command_id):
                    self.duplicates += 1
                    return
                execution_id, said = apply_command(session, home_id, appliance, action, body, now, zone)
            status = "applied"
            self.applied += 1
        except (DataError, IntegrityError) as error:  # a value the database refused: the message's fault
            status, said, execution_id = "rejected", f"the database refused it ({type(error.orig).__name__})", None
        except SQLAlchemyError:
            raise  # the database failed (locked, gone): the tick fails, nothing is acknowledged
        except Exception as error:  # poison is a value: recorded, acknowledged, never redelivered
            status, said, execution_id = "rejected", one_line(error), None
        if status == "rejected":
            self.rejected.append(f"{printable(message.topic.encode(errors='replace'), 80)}: {said}")
        session.execute(insert(COMMANDS).values(
            home_id=home_id, received_at=now, topic=printable(message.topic.encode(errors="replace"), 300),
            command_id=command_id, status=status, reason=said, execution_id=execution_id,
            payload=printable(message.payload)))

    def _read_meter(self, session, now: datetime, zone) -> Meter | None:
        s = self.settings
        if not s.meter_topic:
            return None
        watts, at = s.meter_w, s.meter_at
        if self.meter is not None:
            try:
                value, measured = read_meter(self.meter.payload, key=s.meter_key, unit=s.meter_unit, zone=zone)
                # Without a time in it: a retained value already seen keeps its first sighting's time
                # (a dead meter's last value ages out); anything else was measured about now.
                if measured is None:
                    measured = at if (self.meter.retain and value == watts and at is not None) else now
                measured = check_not_ahead(measured, now)
            except Exception as error:  # read_meter says ValueError; anything else is as bad
                self.meter_problem = one_line(error)
            else:
                watts, at = value, measured
                session.execute(update(SETTINGS).where(SETTINGS.c.home_id == s.home_id).values(
                    meter_w=watts, meter_at=at))
        return Meter(watts, at, s.meter_max_age_s, METER_GRACE_S)

    def summary(self) -> str:
        said = f"mqtt: {self.applied} applied"
        said += f", {self.duplicates} already applied" if self.duplicates else ""
        said += f", {len(self.rejected)} rejected ({self.rejected[0]})" if self.rejected else ""
        said += f"; meter: {self.meter_problem}" if self.meter_problem else ""
        return said


def one_line(error: BaseException) -> str:
    """Why a message was refused, in one line: our own messages as they are; any other exception by
    its type only (its text may quote the payload: a KeyError is the key)."""
    if type(error) in (ValueError, ReconcileError):
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        return printable(text.encode(errors="replace"), MAX_REASON_CHARS)
    return f"it could not be handled ({type(error).__name__}): rejected"


def _quoted(text: str) -> str:
    return repr(text[:40]) if text[:40].isprintable() else "(unprintable)"


def _applied_before(session, home_id: int, command_id: str) -> bool:
    return session.execute(select(COMMANDS.c.id).where(
        COMMANDS.c.home_id == home_id, COMMANDS.c.command_id == command_id,
        COMMANDS.c.status == "applied").limit(1)).first() is not None
