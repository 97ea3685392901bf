"""A meter's payload read as the household's grid import in W, and the instant it was measured.

Payloads seen in the wild: a plain number (`1234`, `1.234` with --meter-unit kW), JSON with the
power under a key (`--meter-key ENERGY.Power` for Tasmota's SENSOR, `--meter-key power`), and an
optional time under `time`, `Time`, `timestamp` or `ts` (ISO 8601, naive in the home's timezone;
or Unix seconds or milliseconds). Without a time, the reading counts from when wattplan first saw
that value.

Every payload is hostile: at most MAX_METER_BYTES, nesting and numbers bounded before parsing
(`bounded`), times between 2000 and 2100, and `read_meter` raises nothing but a one-line
ValueError, so a bad reading is a meter problem on the journal line, never a failed tick or guard.
A reading stamped more than MAX_AHEAD_S after the tick's clock is refused (`check_not_ahead`):
clamped to now it would read fresh for as long as the meter kept saying so, and a dead meter
would never go stale.
"""

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from reconcile.adapters.mqtt import bounded
from reconcile.units import local_instant

TIME_KEYS = ("time", "Time", "timestamp", "ts")
MAX_IMPORT_W = 10_000_000  # README's bound on a power: 10 MW
MAX_METER_BYTES = 16384  # a Tasmota STATUS 10 or a Shelly status is 1-3 KB
MAX_METER_DEPTH = 16
MAX_KEY_LEVELS = 16
MAX_AHEAD_S = 120  # clocks of a meter and of the tick's machine may differ by this much
MAX_TIME_CHARS = 64
FIRST_S, LAST_S = 946_684_800, 4_102_444_800  # 2000-01-01 and 2100-01-01 UTC, as Unix seconds


def read_meter(payload: bytes, *, key: str | None, unit: str, zone: ZoneInfo) -> tuple[float, datetime | None]:
    """(import W, measured at or None); ValueError in one line (never the payload's text), and no
    other exception for any payload."""
    try:
        return _read(payload, key=key, unit=unit, zone=zone)
    except ValueError:
        raise
    except Exception as error:  # a payload never stops a tick: any failure is the payload's
        raise ValueError(f"the meter payload could not be read ({type(error).__name__})") from None


def check_not_ahead(measured: datetime, now: datetime) -> datetime:
    """`measured`, at most `now`; ValueError if it is more than MAX_AHEAD_S after `now`."""
    ahead_s = (measured - now).total_seconds()
    if ahead_s > MAX_AHEAD_S:
        raise ValueError(f"the meter's time is {ahead_s:.0f}s ahead of the tick's clock (more than "
                         f"{MAX_AHEAD_S}s): reading refused")
    return min(measured, now)


def _read(payload: bytes, *, key: str | None, unit: str, zone: ZoneInfo) -> tuple[float, datetime | None]:
    if len(payload) > MAX_METER_BYTES:
        raise ValueError(f"the meter payload is over {MAX_METER_BYTES} bytes")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("the meter payload is neither a number nor JSON") from None
    if text[:1] in ("{", "["):
        body = bounded.loads(text, max_depth=MAX_METER_DEPTH, what="the meter payload")
    else:
        body = text
    value, at = body, None
    if isinstance(body, dict):
        at = _time(next((body[k] for k in TIME_KEYS if k in body), None), zone)
        value = _dig(body, key) if key else body.get("power", body.get("value"))
    elif key:
        raise ValueError(f"the meter payload is not a JSON object with {key[:60]!r}")
    return _watts(value, unit), at


def _watts(value, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("the meter's power is not a number")
    if isinstance(value, str) and len(value) > bounded.MAX_NUMBER_CHARS:
        raise ValueError("the meter's power is not a number")
    try:
        watts = float(value) * (1000.0 if unit == "kW" else 1.0)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("the meter's power is not a number") from None
    if not math.isfinite(watts) or abs(watts) > MAX_IMPORT_W:
        raise ValueError("the meter's power is not a finite power under 10 MW")
    return watts


def _dig(body: dict, key: str):
    parts = key.split(".")
    if len(parts) > MAX_KEY_LEVELS:
        raise ValueError(f"the meter key has more than {MAX_KEY_LEVELS} levels")
    value = body
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"the meter payload has no {key[:60]!r}")
        value = value[part]
    return value


def _time(value, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a meter's time: Unix seconds (milliseconds above 1e11) or ISO 8601, in
    the years 2000 to 2100 (outside them a UTC instant may leave the calendar: OverflowError)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        if not FIRST_S <= seconds < LAST_S:  # also refuses NaN
            raise ValueError("the meter's time is outside the years 2000 to 2100")
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or len(value) > MAX_TIME_CHARS:
        raise ValueError("the meter's time is neither ISO 8601 nor Unix seconds")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("the meter's time is neither ISO 8601 nor Unix seconds") from None
    if not 2000 <= moment.year < 2100:
        raise ValueError("the meter's time is outside the years 2000 to 2100")
    return (local_instant(moment, zone) if moment.tzinfo is None else moment).astimezone(UTC)
