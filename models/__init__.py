"""Every wattplan table: the schema is a public interface that people read with `sqlite3`.

Times are UTC (stored naive, returned aware by `UTCDateTime`); powers are watts, energies Wh,
durations whole seconds. Every row belongs to a home, so many homes fit without a redesign.
The schema only changes through `migrations/`; `README.md` documents it column by column.
"""

from datetime import UTC, datetime
from typing import Any

from sqlmodel import (
    JSON,
    CheckConstraint,
    DateTime,
    Field,
    Index,
    Integer,
    SQLModel,
    TypeDecorator,
    UniqueConstraint,
)

# Must be set before the first table class: constraints get stable names alembic can alter.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class TableModel(SQLModel):
    """What every table shares. `defer_build`: pydantic builds a model's validation schema only if
    it is ever used (tables are not validated on construction); building all eight at import was a
    tenth of what `wattplan tick` spends beyond its imports (BENCHMARKS.md)."""

    model_config = {"defer_build": True}


STATES = ("pending", "running", "paused", "finished", "cancelled")
DECISION_KINDS = ("start", "pause", "resume", "stop")
OBJECTIVES = ("asap", "cheapest", "solar")
PLANNERS = ("greedy", "optimal")
FORECAST_KINDS = ("pv", "base", "price")
END_REASONS = ("completed", "done", "cancelled")


class UTCDateTime(TypeDecorator):
    """Stores UTC without a zone (SQLite has none) and hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: wattplan stores only aware UTC instants")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _home_fk() -> Any:
    return Field(foreign_key="home.id", ondelete="CASCADE", index=True)


class Home(TableModel, table=True):
    """The grid connection: the import limit every slot must respect, and planning settings."""

    __table_args__ = (
        CheckConstraint("limit_w > 0", name="limit_positive"),
        CheckConstraint("slot_s > 0 AND horizon_s >= slot_s", name="slot_and_horizon"),
        CheckConstraint("reserve_w >= 0", name="reserve_not_negative"),
        CheckConstraint(_in("objective", OBJECTIVES), name="objective_known"),
        CheckConstraint(_in("planner", PLANNERS), name="planner_known"),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="home", unique=True)
    limit_w: float
    timezone: str
    slot_s: int = 60
    horizon_s: int = 86400
    reserve_w: float = 0.0  # unmanaged load assumed when no base-load forecast covers a slot
    objective: str = "asap"
    planner: str = "greedy"
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    ticked_at: datetime | None = _utc(default=None, index=True)  # wall clock of the newest tick: workers' order


class Appliance(TableModel, table=True):
    """A device wattplan switches; its defaults apply to every run requested for it."""

    __table_args__ = (
        UniqueConstraint("home_id", "name"),
        Index("uq_appliance_home_id_topic_id", "home_id", "topic_id", unique=True),  # an index: ADD on SQLite
        CheckConstraint("priority_class BETWEEN 1 AND 10", name="priority_class_range"),
        CheckConstraint("min_run_s >= 0 AND min_pause_s >= 0", name="min_times_not_negative"),
        CheckConstraint("max_delay_s IS NULL OR max_delay_s > 0", name="max_delay_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    home_id: int = _home_fk()
    name: str
    interruptible: bool = False
    min_run_s: int = 0  # pausable runs: shortest stretch between a start/resume and a pause
    min_pause_s: int = 0  # pausable runs: shortest pause before resuming
    priority_class: int = 5
    max_delay_s: int | None = None
    created_at: datetime = _utc()
    # Modulating appliances (EV chargers, heat-pump boilers): any power in [min_power_w,
    # max_power_w], in steps of power_step_w from the minimum when set; NULL: on/off only.
    min_power_w: float | None = None
    max_power_w: float | None = None
    power_step_w: float | None = None
    # A relay the tick switches itself (tasmota:TOPIC, shelly:ID, mqtt:TOPIC:ON:OFF); NULL: none.
    relay: str | None = None
    # Its MQTT topic level (<prefix>/<topic_id>/...): unique in the home, [a-z0-9_-], set when the
    # appliance is added (from its name) and changeable; NULL only in rows written before 0005.
    topic_id: str | None = None
    relay_sent: str | None = None  # the relay payload last published: relays publish only on change
    # Modulating appliances: the energy a request without one asks for (Home Assistant's button).
    default_energy_wh: float | None = None


class Profile(TableModel, table=True):
    """A program ("eco"): the power of one cycle, `slot_s` seconds per entry of `watts`."""

    __table_args__ = (
        UniqueConstraint("appliance_id", "name"),
        CheckConstraint("slot_s > 0 AND duration_s > 0", name="durations_positive"),
        CheckConstraint("peak_w > 0 AND energy_wh >= 0", name="power_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    home_id: int = _home_fk()
    appliance_id: int = Field(foreign_key="appliance.id", ondelete="CASCADE", index=True)
    name: str
    slot_s: int
    watts: list[float] = Field(sa_type=JSON)  # mean power in each profile slot
    peak_watts: list[float] = Field(sa_type=JSON)  # highest instantaneous power in each slot
    duration_s: int  # len(watts) * slot_s, kept for SQL readers
    energy_wh: float
    peak_w: float  # max(peak_watts): what must fit under the limit
    source: str | None = None
    created_at: datetime = _utc()


class Execution(TableModel, table=True):
    """One requested run of a program, from request to finish or cancellation."""

    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state_known"),
        CheckConstraint("priority_class BETWEEN 1 AND 10", name="priority_class_range"),
        CheckConstraint("priority BETWEEN 1 AND 10", name="priority_range"),
        CheckConstraint("progress_s >= 0", name="progress_not_negative"),
        CheckConstraint("latest_end IS NULL OR latest_end > earliest_start", name="window_ordered"),
        CheckConstraint("objective IS NULL OR " + _in("objective", OBJECTIVES), name="objective_known"),
        CheckConstraint("end_reason IS NULL OR " + _in("end_reason", END_REASONS), name="end_reason_known"),
        Index("ix_execution_home_id_state", "home_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    home_id: int = _home_fk()
    appliance_id: int = Field(foreign_key="appliance.id", index=True)
    profile_id: int = Field(foreign_key="profile.id", index=True)
    requested_at: datetime = _utc()
    earliest_start: datetime = _utc()  # not before
    latest_end: datetime | None = _utc(default=None)  # the deadline; lateness is measured from it
    max_delay_s: int | None = None  # age at which priority reaches 10
    priority_class: int
    priority: int  # recomputed each tick from class and age
    objective: str | None = None  # None: the home's objective
    state: str = "pending"
    state_since: datetime = _utc()  # when the current state began: progress runs from here
    progress_s: float = 0.0  # profile seconds done when the current state began
    started_at: datetime | None = _utc(default=None)
    ended_at: datetime | None = _utc(default=None)  # the instant it finished or was stopped
    end_reason: str | None = None  # completed | done (appliance reported) | cancelled
    planned_start: datetime | None = _utc(default=None)  # from the latest tick's timetable
    planned_end: datetime | None = _utc(default=None)
    late_s: int | None = None  # planned end past latest_end
    note: str | None = None  # why it is not planned, when it is not
    # A modulating run asks for energy, not a program's cycle: progress_s counts seconds at its
    # appliance's max_power_w (energy_wh / max_power_w hours in all); power_w is its setpoint now.
    energy_wh: float | None = None
    power_w: float | None = None


class Forecast(TableModel, table=True):
    """One interval of a forecast series: PV (W), base load (W) or import price (per kWh)."""

    __table_args__ = (
        UniqueConstraint("home_id", "kind", "starts_at"),
        CheckConstraint(_in("kind", FORECAST_KINDS), name="kind_known"),
        CheckConstraint("ends_at > starts_at", name="interval_ordered"),
        CheckConstraint("kind = 'price' OR value >= 0", name="power_not_negative"),
    )
    id: int | None = Field(default=None, primary_key=True)
    home_id: int = _home_fk()
    kind: str
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    value: float


class Tick(TableModel, table=True):
    """One run of the reconciler: its `now`, what it did and how long it took."""

    id: int | None = Field(default=None, primary_key=True)
    home_id: int = _home_fk()
    now: datetime = _utc(index=True)
    ran_at: datetime = _utc()  # wall clock when the tick ran (differs from `now` in simulations)
    duration_ms: float
    finished: int = 0
    decisions: int = 0
    planned: int = 0
    unplaced: int = 0
    problems: list[str] = Field(default_factory=list, sa_type=JSON)  # skipped rows, reasons


class Decision(TableModel, table=True):
    """What a tick told an appliance; no actuator may act on it after `valid_until`."""

    __table_args__ = (CheckConstraint(_in("kind", DECISION_KINDS), name="kind_known"),)
    id: int | None = Field(default=None, primary_key=True)
    home_id: int = _home_fk()
    tick_id: int = Field(foreign_key="tick.id", ondelete="CASCADE", index=True)
    execution_id: int = Field(foreign_key="execution.id", ondelete="CASCADE", index=True)
    kind: str
    at: datetime = _utc()
    valid_until: datetime = _utc()
    reason: str
    power_w: float | None = None  # the setpoint of a modulating run's start or resume


class TimetableEntry(TableModel, table=True):
    """One contiguous stretch of a planned run; replaced whole by every tick."""

    __table_args__ = (UniqueConstraint("execution_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    home_id: int = _home_fk()
    tick_id: int = Field(foreign_key="tick.id", ondelete="CASCADE", index=True)
    execution_id: int = Field(foreign_key="execution.id", ondelete="CASCADE")
    seq: int = Field(sa_type=Integer)  # 0, 1, … : the stretches of a pausable run in order
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    offset_s: float  # profile seconds already done when this stretch starts
    energy_wh: float
    peak_w: float


MQTT_COMMAND_STATUSES = ("applied", "rejected")


class MqttSettings(TableModel, table=True):
    """How a home's tick talks to its MQTT broker (`wattplan mqtt set`), and the newest meter
    reading. The password is never stored: only the path of a file holding it."""

    __table_args__ = (
        CheckConstraint("meter_unit IN ('W', 'kW')", name="meter_unit_known"),
        CheckConstraint("meter_max_age_s > 0", name="meter_max_age_positive"),
    )
    id: int | None = Field(default=None, primary_key=True)
    home_id: int = Field(foreign_key="home.id", ondelete="CASCADE", unique=True)
    broker: str  # mqtt://HOST:PORT or mqtts://HOST:PORT, without credentials
    username: str | None = None
    password_file: str | None = None
    tls: bool = False
    client_id: str  # stable per home: the broker keeps this session's queued commands
    prefix: str = "wattplan"
    discovery_prefix: str = "homeassistant"
    meter_topic: str | None = None
    meter_key: str | None = None  # a JSON payload's key (dotted: ENERGY.Power); None: a plain number
    meter_unit: str = "W"
    meter_max_age_s: int = 60
    meter_w: float | None = None  # the newest household import read, W
    meter_at: datetime | None = _utc(default=None)  # when it was measured (or first seen)
    discovery_digest: str | None = None  # of the discovery configs last published
    # The discovery config topics last published (JSON list): those no longer published are
    # cleared with an empty retained message (a removed appliance leaves Home Assistant).
    discovery_topics: list[str] | None = Field(default=None, sa_type=JSON)
    ca_file: str | None = None  # TLS: the CA bundle that signs the broker's certificate (None: the system's)
    cert_file: str | None = None  # TLS client certificate (optional) ...
    key_file: str | None = None  # ... and its key
    session_lost_at: datetime | None = _utc(default=None)  # the newest tick whose broker had lost the session
    updated_at: datetime = _utc()


class MqttCommand(TableModel, table=True):
    """A command received over MQTT: applied (its `command_id` is never applied twice) or rejected
    (a person lists them with `wattplan mqtt rejected`)."""

    __table_args__ = (
        CheckConstraint(_in("status", MQTT_COMMAND_STATUSES), name="status_known"),
        Index("ix_mqttcommand_home_id_command_id", "home_id", "command_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    home_id: int = _home_fk()
    received_at: datetime = _utc()  # the tick's now
    topic: str
    command_id: str | None = None  # the payload's "id"
    status: str
    reason: str  # what was done ("enqueued #12") or why it was refused
    execution_id: int | None = None
    payload: str  # as received, at most 500 characters
