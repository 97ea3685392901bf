"""Which topics a home may give wattplan (`mqtt set`, `appliance set --relay`), each rule one line.

Every topic wattplan publishes or subscribes to is one concrete topic: no wildcards, no empty
levels (`a//b`, a leading or trailing `/`), no spaces or control characters, not beginning with
`$` (the broker's own, `$SYS`). Besides, the topics must not collide:

- the prefix and the discovery prefix are apart (neither equal nor one under the other): with
  `--prefix homeassistant`, wattplan's own `homeassistant/status` `online` reads as Home
  Assistant's birth message and all discovery is published again every tick;
- the meter topic and every relay topic lie under neither: a relay on
  `wattplan/washer/request/set` would enqueue a run each time the tick switched it.
"""

from reconcile.errors import ReconcileError

MAX_TOPIC = 200
_FORBIDDEN = "+#"


def check_topic(topic: str, what: str) -> str:
    """`topic` if wattplan may use it as one topic, else ReconcileError naming the rule broken."""
    said = f"{what} {_shown(topic)}"
    if not topic:
        raise ReconcileError(f"{what} is empty")
    if len(topic) > MAX_TOPIC:
        raise ReconcileError(f"{what} is {len(topic)} characters long, more than {MAX_TOPIC}")
    if any(c in topic for c in _FORBIDDEN):
        raise ReconcileError(f"{said} holds a wildcard (+ or #): wattplan needs one topic, not a filter")
    if not topic.isprintable() or any(c.isspace() for c in topic):
        raise ReconcileError(f"{what} holds a space or a control character")
    if topic.startswith("$"):
        raise ReconcileError(f"{said} begins with $: those topics ($SYS) are the broker's own")
    if "" in topic.split("/"):
        raise ReconcileError(f"{said} has an empty level (a leading, trailing or double /)")
    return topic


def under(topic: str, prefix: str) -> bool:
    """Whether `topic` is `prefix` or lies in its subtree (level by level: `home` is not under `ho`)."""
    return topic == prefix or topic.startswith(prefix + "/")


def check_prefixes(prefix: str, discovery_prefix: str) -> None:
    """The prefix and Home Assistant's discovery prefix are apart: neither equal nor nested."""
    if prefix == discovery_prefix:
        raise ReconcileError(f"--prefix and --discovery-prefix are both {prefix!r}: wattplan would read its own "
                             "status as Home Assistant's; give them different topics")
    if under(prefix, discovery_prefix) or under(discovery_prefix, prefix):
        raise ReconcileError(f"--prefix {prefix!r} and --discovery-prefix {discovery_prefix!r} are nested: "
                             "one must not lie under the other")


def check_foreign(topic: str, what: str, prefix: str, discovery_prefix: str) -> str:
    """A topic another device publishes (the meter) or listens to (a relay): a valid topic under
    neither wattplan's prefix (its state and command topics) nor the discovery prefix."""
    check_topic(topic, what)
    for owner, level in (("wattplan's own --prefix", prefix), ("the --discovery-prefix", discovery_prefix)):
        if under(topic, level):
            raise ReconcileError(f"{what} {_shown(topic)} lies under {owner} {level!r}: wattplan's and Home "
                                 "Assistant's topics are not for other devices")
    return topic


def check_relay(spec: str, prefix: str, discovery_prefix: str) -> None:
    """Every topic the relay `spec` publishes to (relays.relay_messages) passes `check_foreign`."""
    from reconcile.adapters.mqtt.relays import relay_messages  # no paho: plain topic arithmetic

    for topic, _payload, _retain in relay_messages(spec, True):
        check_foreign(topic, f"--relay {spec.partition(':')[0]}'s topic", prefix, discovery_prefix)


def _shown(topic: str) -> str:
    """The topic quoted for an error line: cut short, never a control character."""
    return repr(topic[:60] + ("…" if len(topic) > 60 else "")) if topic.isprintable() else "(unprintable)"
