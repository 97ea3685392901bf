"""Each appliance's MQTT topic id: the level of `<prefix>/<topic_id>/...`, stored on the appliance.

Names may hold anything printable (`a/b`, `a+b`, 洗濯機); a topic level may not hold `/`, `+` or
`#`, and Home Assistant's object ids want `[a-z0-9_-]`. So every appliance gets a stored topic id
made once from its name, unique in its home, and changeable with `wattplan appliance set
--topic-id`. Topics lead to an appliance through that stored id, never by sanitising names again, so
two names that sanitise alike (`a/b`, `a_b`) get two topics.
"""

import re

from sqlalchemy import select

from models import Appliance
from reconcile.errors import ReconcileError

MAX_TOPIC_ID = 40
_SAFE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?")
_UNSAFE_RUN = re.compile(r"[^a-z0-9_-]+")


def derive(name: str) -> str:
    """A topic id for `name`: lower-case letters, digits, - and _; a name with other letters
    (洗濯機, Waschküche) in punycode (`xn--newx1do6c`), so distinct names stay distinct."""
    lowered = name.strip().lower()
    if not lowered.isascii():
        lowered = "xn--" + lowered.encode("punycode").decode("ascii")
    slug = _UNSAFE_RUN.sub("_", lowered).strip("_-")[:MAX_TOPIC_ID].strip("_-")
    return slug or "appliance"


def check_topic_id(topic_id: str) -> str:
    """`topic_id` if it is a valid topic id, else ReconcileError in one line."""
    if not _SAFE.fullmatch(topic_id):
        raise ReconcileError(f"a topic id is 1 to {MAX_TOPIC_ID} characters of a-z, 0-9, - and _, starting and "
                             f"ending with a letter or digit (got {topic_id[:60]!r})")
    return topic_id


def check_free(session, home_id: int, topic_id: str, but: int | None = None) -> str:
    """`topic_id` checked (`check_topic_id`) and held by no other appliance of the home (`but`: the
    appliance it is for), else ReconcileError naming the appliance that has it."""
    check_topic_id(topic_id)
    holder = session.execute(select(Appliance.name).where(Appliance.home_id == home_id, Appliance.topic_id ==
                                                          topic_id, Appliance.id != (but or -1))).scalar()
    if holder is not None:
        raise ReconcileError(f"topic id {topic_id!r} belongs to appliance {holder!r}: "
                             "each appliance of a home has its own")
    return topic_id


def taken_topic_ids(session, home_id: int, but: int | None = None) -> set[str]:
    rows = session.execute(select(Appliance.id, Appliance.topic_id).where(Appliance.home_id == home_id))
    return {topic_id for appliance_id, topic_id in rows if topic_id and appliance_id != but}


def unique_topic_id(session, home_id: int, name: str) -> str:
    """`derive(name)`, with -2, -3 … added while another appliance of the home has it."""
    base, taken = derive(name), taken_topic_ids(session, home_id)
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = base[: MAX_TOPIC_ID - len(suffix)].rstrip("_-") + suffix
    return candidate
