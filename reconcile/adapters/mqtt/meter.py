"""A meter's payload read as the household's grid import in W, and the instant it was measured.

Payloads seen in the wild: a plain number (`1234`, `1.234` with --meter-unit kW), JSON with the
power under a key (`--meter-key ENERGY.Power` for Tasmota's SENSOR, `--meter-key power`), and an
optional time under `time`, `Time`, `timestamp` or `ts` (ISO 8601, naive in the home's timezone;
or Unix seconds). Without a time, the reading counts from when wattplan first saw that value.
"""

import json
import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from reconcile.units import local_instant

TIME_KEYS = ("time", "Time", "timestamp", "ts")
MAX_IMPORT_W = 10_000_000  # README's bound on a power: 10 MW


def read_meter(payload: bytes, *, key: str | None, unit: str, zone: ZoneInfo) -> tuple[float, datetime | None]:
    """(import W, measured at or None); ValueError in one line (never the payload's text)."""
    try:
        text = payload.decode("utf-8").strip()
        body = json.loads(text) if text[:1] in "{[" else text
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the meter payload is neither a number nor JSON") from None
    value, at = body, None
    if isinstance(body, dict):
        at = _time(next((body[k] for k in TIME_KEYS if k in body), None), zone)
        value = _dig(body, key) if key else body.get("power", body.get("value"))
    elif key:
        raise ValueError(f"the meter payload is not a JSON object with {key!r}")
    try:
        watts = float(value) * (1000.0 if unit == "kW" else 1.0)
    except (TypeError, ValueError):
        raise ValueError("the meter's power is not a number") from None
    if not math.isfinite(watts) or abs(watts) > MAX_IMPORT_W:
        raise ValueError("the meter's power is not a finite power under 10 MW")
    return watts, at


def _dig(body: dict, key: str):
    value = body
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"the meter payload has no {key!r}")
        value = value[part]
    return value


def _time(value, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        moment = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        raise ValueError("the meter's time is neither ISO 8601 nor Unix seconds") from None
    return (local_instant(moment, zone) if moment.tzinfo is None else moment).astimezone(UTC)
