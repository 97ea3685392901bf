"""The `appliance` group's commands: add, list, show, remove and set (the group itself belongs to
`setup_home`'s panel). Settings are given when an appliance is added and changed by `set`."""

from typing import Annotated

import typer

from reconcile.commands.base import Json, Name, clock, command, emit, option, power, say, seconds, session
from reconcile.commands.setup_home import appliance_app
from reconcile.errors import ExitStatus, ReconcileError
from reconcile.units import format_duration, format_power

Interruptible = Annotated[bool, typer.Option("--interruptible", help=(
    "Its runs may be paused and resumed (a water heater, an EV charger)."))]
MinPower = Annotated[str | None, option("POWER", "Modulating (an EV charger): the lowest power it draws when on, "
                                                 "e.g. 1.4kW (with --max-power).")]
MaxPower = Annotated[str | None, option("POWER", "Modulating: the highest power, e.g. 7.4kW.")]
Current = Annotated[str | None, option("A-A", "Modulating, in whole amperes: e.g. 6-32A (instead of "
                                              "--min-power/--max-power/--step).")]
Phases = Annotated[int, typer.Option(metavar="1|3", help="With --current: phases of the charger.")]
Voltage = Annotated[str, option("VOLTS", "With --current: phase voltage.", "230V")]
TopicId = Annotated[str | None, option("ID", "Its MQTT topic level (<prefix>/ID/...): a-z, 0-9, - and _, unique "
                                             "in the home.", "made from the name")]
DefaultEnergy = Annotated[str | None, option("ENERGY", "Modulating: the energy of a request that names none (Home "
                                                       "Assistant's button), e.g. 20kWh.", "to full")]
PriorityClass = Annotated[int | None, typer.Option(metavar="N", help="Default priority class of new requests, "
                                                                      "1 (low) to 10 (urgent).")]


@command(appliance_app, "add")
def appliance_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name for the appliance, e.g. washer.")],
    interruptible: Interruptible = False,
    min_run: Annotated[str | None, option("DURATION", "If interruptible: shortest run between pauses.", "0")
                       ] = None,
    min_pause: Annotated[str | None, option("DURATION", "If interruptible: shortest pause.", "0")] = None,
    priority_class: Annotated[int, typer.Option(
        metavar="N", help="Default priority class, 1 (low) to 10 (urgent).")] = 5,
    max_delay: Annotated[str | None, option(
        "DURATION", "Default longest wait before a run starts, e.g. 6h: its priority rises to 10 by then.",
        "none: the priority stays at its class")] = None,
    min_power: MinPower = None,
    max_power: MaxPower = None,
    step: Annotated[str | None, option("POWER", "Modulating: settable in steps of this from --min-power.",
                                       "any power")] = None,
    current: Current = None,
    phases: Phases = 1,
    voltage: Voltage = "230V",
    topic_id: TopicId = None,
    default_energy: DefaultEnergy = None,
) -> None:
    """Add an appliance for wattplan to schedule; with a power range it modulates (runs ask for --energy)."""
    from reconcile.shell import catalog

    runs = {"min_run_s": seconds(min_run, "--min-run"), "min_pause_s": seconds(min_pause, "--min-pause")}
    runs = {key: value or 0 for key, value in runs.items()}
    max_delay_s = seconds(max_delay, "--max-delay")
    power_range = _power_range(min_power, max_power, step, current, phases, voltage)
    with session() as s:
        catalog.add_appliance(s, now=clock(), name=name, interruptible=interruptible,
                              priority_class=priority_class, max_delay_s=max_delay_s, power_range=power_range,
                              topic_id=topic_id, default_energy_wh=_energy(default_energy), **runs)
    if power_range:
        low, high, stepped = (format_power(w) for w in (power_range[0], power_range[1], power_range[2] or 0))
        say(f"added modulating appliance {name!r}: {low} to {high}" + (f" in steps of {stepped}" * bool(
            power_range[2])))
        return
    say(f"added appliance {name!r}")


def _power_range(min_power, max_power, step, current, phases, voltage) -> tuple | None:
    """(min W, max W, step W or None) of a modulating appliance, or None: --min-power with
    --max-power (and --step), or --current A-A (with --phases, --voltage)."""
    from reconcile.units import parse_current_range

    if current is not None:
        if min_power or max_power or step:
            raise ReconcileError("give --current, or --min-power with --max-power, not both", ExitStatus.USAGE)
        return parse_current_range(current, phases=phases, voltage=voltage)
    if (min_power is None) != (max_power is None) or (step and max_power is None):
        raise ReconcileError("a modulating appliance needs both --min-power and --max-power", ExitStatus.USAGE)
    if max_power is None:
        return None
    return power(min_power, "--min-power"), power(max_power, "--max-power"), power(step, "--step")


def _energy(text: str | None) -> float | None:
    from reconcile.units import parse_energy

    return None if text is None or text == "none" else parse_energy(text, what="--default-energy")


@command(appliance_app, "list")
def appliance_list(as_json: Json = False) -> None:
    """List the appliances with their settings, programs and (with MQTT) topic ids."""
    from rich.console import Group

    from reconcile.presentation import render

    rows, extras, prefix = _listed(None)
    table = render.appliances(rows)
    emit(_with(rows, extras), as_json, table if prefix is None else Group(table, "", _topics(rows, extras, prefix)))


@command(appliance_app, "show")
def appliance_show(name: Name, as_json: Json = False) -> None:
    """Show one appliance, its programs and its topic id."""
    from rich.console import Group

    from reconcile.presentation import render

    (row,), extras, prefix = _listed(name)
    energy = extras[row.name]["default_energy_wh"]
    lines = [f"default energy of a request: {format_energy(energy)}"] if energy is not None else []
    emit(_with([row], extras)[0], as_json, Group(render.appliance(row), "", _topics([row], extras, prefix), *lines))


def _listed(name: str | None) -> tuple[list, dict, str | None]:
    """(the appliances' views, their topic ids and default energies, the home's MQTT prefix or None)."""
    from reconcile.shell import views
    from reconcile.shell.appliance_settings import extras

    with session(write=False) as s:
        return views.appliances(s, name), extras(s), _mqtt_prefix(s)


def _mqtt_prefix(s) -> str | None:
    from sqlalchemy import select

    from models import MqttSettings
    from reconcile.shell.store import load_home

    return s.execute(select(MqttSettings.prefix).where(MqttSettings.home_id == load_home(s).id)).scalar()


def _with(rows, extras) -> list[dict]:
    """The JSON of each appliance: the view's keys, then `topic_id` and `default_energy_wh`."""
    from reconcile.shell.views import as_data

    return [{**as_data(row), **extras[row.name]} for row in rows]


def _topics(rows, extras, prefix: str | None):
    """Each appliance's topic id and where its topics are (`<prefix>/<topic id>/...`)."""
    from rich.table import Table

    table = Table("appliance", "topic id", "topics", header_style="bold", box=None, pad_edge=False)
    for row in rows:
        topic_id = extras[row.name]["topic_id"]
        table.add_row(row.name, topic_id, f"{prefix}/{topic_id}/..." if prefix else "- (no MQTT: `mqtt set`)")
    return table


def format_energy(wh: float) -> str:
    return f"{wh / 1000:g}kWh" if wh >= 1000 else f"{wh:g}Wh"


@command(appliance_app, "remove")
def appliance_remove(name: Name) -> None:
    """Remove an appliance and its programs (refused once it has runs in its history)."""
    from reconcile.shell import catalog

    with session() as s:
        catalog.remove_appliance(s, name=name)
    say(f"removed appliance {name!r}")


@command(appliance_app, "set")
def appliance_set(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The appliance.")],
    relay: Annotated[str | None, option("SPEC", "tasmota:TOPIC, shelly:ID or mqtt:TOPIC:ON:OFF: the tick switches "
                                                "this relay itself; none: no relay.")] = None,
    min_power: MinPower = None,
    max_power: MaxPower = None,
    step: Annotated[str | None, option("POWER", "Modulating: settable in steps of this from --min-power; none: "
                                                "any power.")] = None,
    current: Current = None,
    phases: Phases = 1,
    voltage: Voltage = "230V",
    min_run: Annotated[str | None, option("DURATION", "Interruptible: shortest run between pauses.")] = None,
    min_pause: Annotated[str | None, option("DURATION", "Interruptible: shortest pause.")] = None,
    priority_class: PriorityClass = None,
    max_delay: Annotated[str | None, option("DURATION", "Default longest wait of new requests; none: no "
                                                        "rise.")] = None,
    topic_id: Annotated[str | None, option("ID", "Its MQTT topic level: a-z, 0-9, - and _, unique in the home "
                                                 "(Home Assistant's entities move with it).")] = None,
    default_energy: Annotated[str | None, option("ENERGY", "Modulating: the energy of a request that names none, "
                                                           "e.g. 20kWh; none: to full.")] = None,
) -> None:
    """Change an appliance's settings; those not given stay as they are.

    The power range, minimum run and pause reach its open runs at the next tick.
    The priority class and longest wait apply to new requests.
    --max-power changes only while the appliance has no open run."""
    from reconcile.shell.appliance_settings import Changes, change_appliance

    changes = Changes(**_range_changes(min_power, max_power, step, current, phases, voltage),
                      min_run_s=seconds(min_run, "--min-run"), min_pause_s=seconds(min_pause, "--min-pause"),
                      priority_class=priority_class, max_delay_s=None if max_delay == "none" else
                      seconds(max_delay, "--max-delay"), clear_max_delay=max_delay == "none",
                      topic_id=topic_id, default_energy_wh=_energy(default_energy),
                      clear_default_energy=default_energy == "none")
    spec = _relay(relay)
    if changes == Changes() and relay is None:
        raise ReconcileError("nothing to change: give a setting, e.g. --max-power 7.4kW (see --help)",
                             ExitStatus.USAGE)
    with session() as s:
        appliance = change_appliance(s, name=name, changes=changes)
        if relay is not None:
            _check_relay(s, spec)
            appliance.relay = spec
        say(f"{name}: " + _described(appliance, changes, relay is not None))


def _range_changes(min_power, max_power, step, current, phases, voltage) -> dict:
    if current is not None:
        if min_power or max_power or step:
            raise ReconcileError("give --current, or --min-power/--max-power/--step, not both", ExitStatus.USAGE)
        from reconcile.units import parse_current_range

        low, high, stepped = parse_current_range(current, phases=phases, voltage=voltage)
        return {"min_power_w": low, "max_power_w": high, "power_step_w": stepped, "clear_step": stepped is None}
    return {"min_power_w": power(min_power, "--min-power"), "max_power_w": power(max_power, "--max-power"),
            "power_step_w": None if step == "none" else power(step, "--step"), "clear_step": step == "none"}


def _relay(relay: str | None):
    if relay is None or relay == "none":
        return None
    from reconcile.adapters.mqtt.relays import parse_relay  # only when a relay is given: no paho import

    return parse_relay(relay)


def _check_relay(s, spec: str | None) -> None:
    """A relay's topics lie under neither wattplan's prefix nor the discovery prefix (the defaults
    while MQTT is off: `mqtt set` checks the relays again against the prefixes it is given)."""
    if spec is None:
        return
    from sqlalchemy import select

    from models import MqttSettings
    from reconcile.adapters.mqtt.topic_rules import check_relay
    from reconcile.shell.store import load_home

    found = s.execute(select(MqttSettings.prefix, MqttSettings.discovery_prefix)
                      .where(MqttSettings.home_id == load_home(s).id)).first()
    check_relay(spec, *(found or ("wattplan", "homeassistant")))


def _described(appliance, changes, relay_changed: bool) -> str:
    """What the appliance's changed settings now are, in one line."""
    said = []
    if changes.touches_range:  # refused for an on/off appliance: a range to tell
        stepped = f" in steps of {format_power(appliance.power_step_w)}" if appliance.power_step_w else ""
        said.append(f"{format_power(appliance.min_power_w or 0)} to {format_power(appliance.max_power_w)}{stepped}")
    if changes.min_run_s is not None or changes.min_pause_s is not None:
        said.append(f"minimum run {format_duration(appliance.min_run_s)}, "
                    f"pause {format_duration(appliance.min_pause_s)}")
    if changes.priority_class is not None:
        said.append(f"priority class {appliance.priority_class} for new requests")
    if changes.max_delay_s is not None or changes.clear_max_delay:
        wait = format_duration(appliance.max_delay_s) if appliance.max_delay_s else "none"
        said.append(f"longest wait {wait} for new requests")
    if relay_changed:
        said.append(f"relay {appliance.relay or 'none'}")
    if changes.topic_id is not None:
        said.append(f"topic id {appliance.topic_id}")
    if changes.default_energy_wh is not None or changes.clear_default_energy:
        energy = appliance.default_energy_wh
        said.append(f"default energy {format_energy(energy) if energy else 'none (to full)'}")
    return "; ".join(said)
