"""Topic names and the payloads people send: one place that says what lives where.

    <prefix>/status                      online | offline (retained; offline is the last will)
    <prefix>/site                        the site's figures (retained JSON)
    <prefix>/<appliance>/state           what the appliance should do now (retained JSON)
    <prefix>/<appliance>/plan            its open runs and their planned stretches (retained JSON)
    <prefix>/<appliance>/request/set     a command: a program name, or JSON (see `request_fields`)
    <prefix>/<appliance>/cancel/set      a command: cancel its open run (or {"execution_id": N})
    <prefix>/<appliance>/done/set        a command: its run finished early (or {"execution_id": N})
"""

import json
import re
from dataclasses import dataclass

ACTIONS = ("request", "cancel", "done")
MAX_PAYLOAD_BYTES = 4096
MAX_ID_CHARS = 64
REQUEST_KEYS = {"program", "within", "by", "not_before", "objective", "priority_class", "id"}
END_KEYS = {"execution_id", "id"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class Message:
    """A message as received (`client`): acknowledged only after the tick committed."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool = False


def segment(name: str) -> str:
    """An appliance's topic level: its name with anything but letters, digits, - and _ as _ (a name
    may hold /, + or #, which MQTT reads as levels and wildcards)."""
    return _UNSAFE.sub("_", name)


def command_filters(prefix: str) -> list[str]:
    return [f"{prefix}/+/{action}/set" for action in ACTIONS]


def parse_command_topic(prefix: str, topic: str) -> tuple[str, str] | None:
    """(appliance level, action) of a command topic, None for any other topic."""
    head, _, rest = topic.partition(f"{prefix}/")
    parts = rest.split("/")
    if head or len(parts) != 3 or parts[1] not in ACTIONS or parts[2] != "set":
        return None
    return parts[0], parts[1]


def parse_payload(action: str, payload: bytes) -> dict:
    """The command's fields; ValueError (one line, no payload text) for anything else.

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
            return {}
        return {"program": text} if text else {}
    try:
        body = json.loads(text)
    except ValueError:
        raise ValueError("the payload starts with { but is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the payload is not a JSON object")
    allowed = REQUEST_KEYS if action == "request" else END_KEYS
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValueError(f"unknown key {unknown[0][:40]!r}: a {action} takes {', '.join(sorted(allowed))}")
    return _checked(body)


def _checked(body: dict) -> dict:
    command_id = body.get("id")
    if command_id is not None and (not isinstance(command_id, str | int) or isinstance(command_id, bool)
                                   or not 0 < len(str(command_id)) <= MAX_ID_CHARS):
        raise ValueError(f"id must be a string or number of 1 to {MAX_ID_CHARS} characters")
    for key in ("program", "by", "not_before", "objective"):
        if key in body and not isinstance(body[key], str):
            raise ValueError(f"{key} must be a string")
    for key in ("execution_id", "priority_class"):
        if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool)):
            raise ValueError(f"{key} must be a whole number")
    if "within" in body and (isinstance(body["within"], bool) or not isinstance(body["within"], str | int | float)):
        raise ValueError("within must be a duration (\"4h\") or a number of seconds")
    return {**body, "id": None if command_id is None else str(command_id)}


def printable(payload: bytes, limit: int = 500) -> str:
    """The payload as text a person can read in a listing: no control characters, at most `limit`."""
    text = payload[: limit * 4].decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)[:limit]


def dumps(data) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
