"""Topic names and the payloads people send: one place that says what lives where.

    <prefix>/status                      online | offline (retained; offline is the last will)
    <prefix>/site                        the site's figures (retained JSON)
    <prefix>/<topic_id>/state            what the appliance should do now (retained JSON)
    <prefix>/<topic_id>/plan             its open runs and their planned stretches (retained JSON)
    <prefix>/<topic_id>/request/set      a command: a program name, or JSON (see `REQUEST_KEYS`)
    <prefix>/<topic_id>/cancel/set       a command: cancel its open run (or {"execution_id": N})
    <prefix>/<topic_id>/done/set         a command: its run finished early (or {"execution_id": N})

`<topic_id>` is the appliance's stored topic id (`reconcile/shell/topic_ids.py`), never its name
sanitised again. Every bound here holds before anything is parsed: the topic's length and levels,
the payload's size, nesting and numbers (`bounded`), each value's type and length.
"""

import json
import math
import re
from dataclasses import dataclass

from reconcile.adapters.mqtt import bounded
from reconcile.errors import ReconcileError
from reconcile.units import parse_energy

ACTIONS = ("request", "cancel", "done")
MAX_PAYLOAD_BYTES = 4096
MAX_TOPIC_CHARS = 256  # a prefix of at most 200 (settings.check_topic), a topic id of 40, /request/set
MAX_DEPTH = 2  # a command is one flat JSON object; one level more only to name the wrong type
MAX_ID_CHARS = 64
MAX_TEXT_CHARS = 64  # a program name (catalog.MAX_NAME), a time, a duration, an objective
MAX_ENERGY_WH = 1e7  # 10 MWh: far above any appliance's 48 h (the longest run accepted)
REQUEST_KEYS = {"program", "within", "by", "not_before", "objective", "priority_class", "energy", "id"}
END_KEYS = {"execution_id", "id"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class Message:
    """A message as received (`client`): acknowledged only after the tick committed. `dup`: the
    broker says it may have delivered it before (MQTT's DUP flag, a redelivery)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool = False
    dup: bool = False


def segment(name: str) -> str:
    """A name with anything but letters, digits, - and _ as _: only for Home Assistant object ids
    made from names (a home's, a program's); appliances' topics use their stored topic id."""
    return _UNSAFE.sub("_", name)


def command_filters(prefix: str) -> list[str]:
    return [f"{prefix}/+/{action}/set" for action in ACTIONS]


def command_topic(prefix: str, topic: str) -> tuple[str, str]:
    """(topic id, action) of `<prefix>/<topic_id>/<action>/set`; ValueError (one line) otherwise."""
    if len(topic) > MAX_TOPIC_CHARS:
        raise ValueError(f"the topic is longer than {MAX_TOPIC_CHARS} characters")
    head, _, rest = topic.partition(f"{prefix}/")
    parts = rest.split("/")
    if head or len(parts) != 3 or parts[1] not in ACTIONS or parts[2] != "set" or not parts[0]:
        raise ValueError(f"not a command topic: {prefix}/<topic id>/{'|'.join(ACTIONS)}/set")
    return parts[0], parts[1]


def parse_command_topic(prefix: str, topic: str) -> tuple[str, str] | None:
    """(topic id, action) of a command topic, None for any other topic."""
    try:
        return command_topic(prefix, topic)
    except ValueError:
        return None


def parse_payload(action: str, payload: bytes) -> dict:
    """The command's fields, every value checked; ValueError (one line, no payload text) else.

    A request is a program name (empty: the appliance's only program) or a JSON object with the
    keys of REQUEST_KEYS; cancel and done are empty or a JSON object with END_KEYS.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"the payload is over {MAX_PAYLOAD_BYTES} bytes")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("the payload is not UTF-8 text") from None
    if not text.startswith("{"):
        if action != "request":
            if text:
                raise ValueError(f"a {action} payload is empty or a JSON object")
            return {"id": None}
        return {"program": _text("program", text), "id": None} if text else {"id": None}
    try:
        body = bounded.loads(text, max_depth=MAX_DEPTH)
    except ValueError as error:
        raise ValueError(str(error).replace("not valid JSON", "starts with { but is not valid JSON")) from None
    if not isinstance(body, dict):
        raise ValueError("the payload is not a JSON object")
    allowed = REQUEST_KEYS if action == "request" else END_KEYS
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValueError(f"unknown key {_quoted(unknown[0])}: a {action} takes {', '.join(sorted(allowed))}")
    return _checked(body)


def _checked(body: dict) -> dict:
    checked = {key: _text(key, body[key]) for key in ("program", "by", "not_before", "objective") if key in body}
    for key in ("execution_id", "priority_class"):
        if key in body:
            checked[key] = _whole(key, body[key])
    if "within" in body:
        within = body["within"]
        if isinstance(within, bool) or not isinstance(within, str | int | float):
            raise ValueError("within must be a duration (\"4h\") or a number of seconds")
        checked["within"] = _text("within", within) if isinstance(within, str) else within
    if "energy" in body:
        checked["energy"] = energy_wh(body["energy"])
    return {**checked, "id": _command_id(body.get("id"))}


def energy_wh(value) -> float:
    """Wh of `energy`: a string with its unit ("20kWh", "500Wh") or a number of Wh; > 0, bounded."""
    if isinstance(value, str):
        try:
            wh = parse_energy(_text("energy", value), what="energy")
        except ReconcileError as error:
            raise ValueError(str(error)) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        wh = float(value)
    else:
        raise ValueError("energy must be an energy (\"20kWh\", \"500Wh\") or a number of Wh")
    if not math.isfinite(wh) or not 0 < wh <= MAX_ENERGY_WH:
        raise ValueError(f"energy must be above 0 and at most {MAX_ENERGY_WH / 1e6:g} MWh")
    return wh


def _command_id(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"id must be a string or number of 1 to {MAX_ID_CHARS} characters")
    text = str(value)
    if not 0 < len(text) <= MAX_ID_CHARS or not text.isprintable():
        raise ValueError(f"id must be a string or number of 1 to {MAX_ID_CHARS} printable characters")
    return text


def _text(key: str, value) -> str:
    """A string value: printable (no control characters, no lone surrogates), at most MAX_TEXT_CHARS."""
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    if len(value) > MAX_TEXT_CHARS or not value.isprintable():
        raise ValueError(f"{key} must be at most {MAX_TEXT_CHARS} printable characters")
    return value


def _whole(key: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} must be a whole number")
    return value


def _quoted(key: str) -> str:
    return repr(key[:40]) if key[:40].isprintable() else "(unprintable)"


def printable(payload: bytes, limit: int = 500) -> str:
    """The payload as text a person can read in a listing: no control characters, at most `limit`."""
    text = payload[: limit * 4].decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)[:limit]


def dumps(data) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
