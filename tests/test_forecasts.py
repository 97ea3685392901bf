"""Forecast import: parsing CSV and JSON, one-line errors naming the line, resampling, storing, showing."""

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import Forecast
from reconcile.errors import ReconcileError
from reconcile.planner.domain import Interval
from reconcile.shell.db import transaction
from reconcile.shell.forecasts import import_series, prepare, replace_series, resample, stored_series
from reconcile.shell.store import load_home
from reconcile.simulation.history import forecast_world
from reconcile.simulation.sample import series_intervals
from reconcile.simulation.scenario_types import ForecastUpdate, Series
from reconcile.simulation.simulate import replace_series as simulated_update

BERLIN = ZoneInfo("Europe/Berlin")


def intervals(text: str, kind: str = "pv", slot_s: int = 900) -> list[tuple[str, str, float]]:
    _rows, out = prepare(text, kind=kind, slot_s=slot_s, zone=BERLIN)
    return [(_utc(i.start), _utc(i.end), i.value) for i in out]


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M")


def error(text: str, kind: str = "pv") -> str:
    with pytest.raises(ReconcileError) as caught:
        prepare(text, kind=kind, slot_s=900, zone=BERLIN)
    return str(caught.value)


def test_csv_in_watts_with_offsets_on_the_home_slots() -> None:
    text = "timestamp,value\n2026-06-30T12:00+00:00,100\n2026-06-30T12:15+00:00,200\n"
    assert intervals(text) == [("12:00", "12:15", 100.0), ("12:15", "12:30", 200.0)]


def test_naive_timestamps_are_in_the_home_timezone() -> None:
    assert intervals("timestamp,value\n2026-06-30T14:00,100\n")[0][:2] == ("12:00", "12:15")


def test_kw_in_the_header_means_kilowatts() -> None:
    assert intervals("timestamp,value_kw\n2026-06-30T12:00Z,1.5\n")[0][2] == 1500.0


def test_prices_per_mwh_are_stored_per_kwh() -> None:
    text = "timestamp,value_mwh\n2026-06-30T12:00Z,116.33\n2026-06-30T13:00Z,-2\n"
    assert intervals(text, "price", slot_s=3600) == [("12:00", "13:00", 0.11633), ("13:00", "14:00", -0.002)]


def test_a_coarser_series_holds_its_value_in_every_slot_and_is_stored_merged() -> None:
    """An hourly price on 15-minute slots: one stored interval per hour, not four."""
    text = "timestamp,value\n2026-06-30T12:00Z,0.2\n2026-06-30T13:00Z,0.1\n"
    assert intervals(text, "price") == [("12:00", "13:00", 0.2), ("13:00", "14:00", 0.1)]


def test_a_finer_series_is_averaged_over_each_slot() -> None:
    watts = (0, 300, 600, 900, 900, 900)  # every 5 minutes
    rows = "".join(f"2026-06-30T12:{5 * i:02d}Z,{w}\n" for i, w in enumerate(watts))
    assert intervals("timestamp,value\n" + rows) == [("12:00", "12:15", 300.0), ("12:15", "12:30", 900.0)]


def test_a_series_off_the_slot_grid_is_averaged_over_the_part_it_covers() -> None:
    """600–1500 s at 100 W, 1500–2400 s at 400 W, 900 s slots: the middle slot holds 600 s at 100 and
    300 s at 400, a mean of 200; each edge slot the mean of the part it covers."""
    assert resample([Interval(600.0, 1500.0, 100.0), Interval(1500.0, 2400.0, 400.0)], slot_s=900) == [
        Interval(0.0, 900.0, 100.0), Interval(900.0, 1800.0, 200.0), Interval(1800.0, 2700.0, 400.0)]


def test_rows_in_any_order_are_sorted() -> None:
    text = "timestamp,value\n2026-06-30T12:15Z,200\n2026-06-30T12:00Z,100\n"
    assert intervals(text) == [("12:00", "12:15", 100.0), ("12:15", "12:30", 200.0)]


def test_json_with_starts_or_with_ends() -> None:
    starts = '[{"start": "2026-06-30T12:00Z", "value": 100}, {"start": "2026-06-30T12:15Z", "value": 200}]'
    ends = '[{"start": "2026-06-30T12:00Z", "end": "2026-06-30T12:30Z", "value": "100"}]'
    assert intervals(starts) == [("12:00", "12:15", 100.0), ("12:15", "12:30", 200.0)]
    assert intervals(ends) == [("12:00", "12:30", 100.0)]


@pytest.mark.parametrize(("text", "kind", "message"), [
    ("", "pv", "line 1: expected the header timestamp,value|value_w|value_kw, got 0 columns"),
    ("time,watts\n", "pv", "line 1: expected the header timestamp,value|value_w|value_kw, got other names"),
    ("timestamp,value_kw\n", "price",
     "line 1: expected the header timestamp,value|value_kwh|value_mwh, got other names"),
    ("timestamp,value\n", "pv", "no values: the input has no data rows"),
    ("timestamp,value\n2026-06-30T12:00Z,abc\n", "pv", "line 2: the value is not a number"),
    ("timestamp,value\n2026-06-30T12:00Z,1,2\n", "pv", "line 2: expected 2 columns (timestamp,value), got 3"),
    ("timestamp,value\n2026-06-30T12:00Z,nan\n", "pv", "line 2: the value is not finite"),
    ("timestamp,value\n2026-06-30T12:00Z,inf\n", "base", "line 2: the value is not finite"),
    ("timestamp,value\n2026-06-30T12:00Z,-20\n", "pv", "line 2: pv cannot be negative, got -20 W"),
    ("timestamp,value\n2026-06-30T12:00Z,-1\n", "base", "line 2: base cannot be negative, got -1 W"),
    ("timestamp,value\nyesterday,1\n", "pv",
     "line 2: the time is not an ISO 8601 timestamp (2026-06-30T12:00+02:00)"),
    ("timestamp,value\n2026-06-30T12:00Z,1\n2026-06-30T14:00+02:00,2\n", "pv",
     "line 3: duplicate timestamp 2026-06-30T14:00+02:00 (also on line 2)"),
    ("timestamp,value\n2026-06-30T12:00Z,1\n2026-06-30T12:15Z,2\n2026-06-30T13:00Z,3\n", "pv",
     "line 4: gap: no value from 2026-06-30T14:30+02:00 to 2026-06-30T15:00+02:00"),
    ('[{"start": "2026-06-30T12:00Z", "end": "2026-06-30T13:00Z", "value": 1},'
     ' {"start": "2026-06-30T12:30Z", "end": "2026-06-30T14:00Z", "value": 2}]', "pv",
     "item 2: overlaps item 1, which lasts until 2026-06-30T15:00+02:00"),
    ('[{"start": "2026-06-30T12:00Z", "value": true}]', "pv", "item 1: the value is not a number"),
    ('[{"start": "2026-06-30T12:00Z"}]', "pv",
     'item 1: expected {"start", "value"} or {"start", "end", "value"}, got other keys'),
    ('[{"start": "2026-06-30T12:00Z", "end": "2026-06-30T11:00Z", "value": 1}]', "pv",
     "item 1: its end is not after its start"),
    ('{"start": 1}', "pv", 'JSON input must be a list of {"start", "value"} or {"start", "end", "value"}'),
    ("[1,", "pv", "not valid JSON: Expecting value at line 1 column 4"),
])
def test_each_mistake_is_one_line_naming_where(text, kind, message) -> None:
    assert error(text, kind) == message


def test_an_unknown_kind_is_refused() -> None:
    assert error("timestamp,value\n", "wind") == "unknown forecast kind 'wind': choose pv, base, price"


def rows(engine) -> list[tuple[str, str, float]]:
    with transaction(engine) as session:
        found = session.execute(select(Forecast.kind, Forecast.starts_at, Forecast.ends_at, Forecast.value)
                                .order_by(Forecast.kind, Forecast.starts_at)).all()
    return [(k, a.strftime("%H:%M"), b.strftime("%H:%M"), v) for k, a, b, v in found]


def test_import_replaces_only_the_range_it_covers(home_engine) -> None:
    """Home slots are 1 minute; hourly values are stored as one row per hour."""
    day = "timestamp,value\n" + "".join(f"2026-06-30T{h:02d}:00Z,{h}\n" for h in range(10, 14))
    with transaction(home_engine) as session:
        result = import_series(session, home=load_home(session), kind="base", text=day)
    assert (result.rows, result.intervals, result.start, result.end) == (
        4, 4, datetime(2026, 6, 30, 10, tzinfo=UTC), datetime(2026, 6, 30, 14, tzinfo=UTC))
    patch = '[{"start": "2026-06-30T11:30Z", "end": "2026-06-30T12:30Z", "value": 99}]'
    with transaction(home_engine) as session:
        import_series(session, home=load_home(session), kind="base", text=patch)
    assert rows(home_engine) == [("base", "10:00", "11:00", 10.0), ("base", "11:00", "11:30", 11.0),
                                 ("base", "11:30", "12:30", 99.0), ("base", "12:30", "13:00", 12.0),
                                 ("base", "13:00", "14:00", 13.0)]


def test_a_stored_interval_around_the_new_range_keeps_both_ends(home_engine) -> None:
    with transaction(home_engine) as session:
        home = load_home(session)
        replace_series(session, home_id=home.id, kind="pv", intervals=[Interval(_at(10), _at(14), 500.0)])
        replace_series(session, home_id=home.id, kind="pv", intervals=[Interval(_at(11), _at(12), 0.0)])
    assert rows(home_engine) == [("pv", "10:00", "11:00", 500.0), ("pv", "11:00", "12:00", 0.0),
                                 ("pv", "12:00", "14:00", 500.0)]


def test_a_simulated_forecast_update_trims_the_rows_it_straddles_in_the_database_and_the_world(
        home_engine) -> None:
    """The sample loader, the simulator's updates and the CLI import share one meaning of
    replacing, and the simulator's world applies that same meaning."""
    hourly = Series("base", datetime(2026, 6, 30, 8, tzinfo=UTC), 3600, (100.0, 200.0))
    update = Series("base", datetime(2026, 6, 30, 8, 30, tzinfo=UTC), 900, (5.0, 5.0, 5.0))
    with transaction(home_engine) as session:
        home_id = load_home(session).id
        replace_series(session, home_id=home_id, kind="base", intervals=series_intervals(hourly))
        simulated_update(session, home_id, update)
    expected = [("08:00", "08:30", 100.0), ("08:30", "08:45", 5.0), ("08:45", "09:00", 5.0),
                ("09:00", "09:15", 5.0), ("09:15", "10:00", 200.0)]
    assert rows(home_engine) == [("base", *row) for row in expected]
    world = SimpleNamespace(start=hourly.start, forecasts=(hourly,), events=(ForecastUpdate(update.start, update),))
    assert [(_utc(hourly.start.timestamp() + a / 1000), _utc(hourly.start.timestamp() + b / 1000), v)
            for a, b, v in forecast_world(world)["base"]] == expected


def test_importing_twice_changes_nothing(home_engine) -> None:
    text = "timestamp,value_kw\n2026-06-30T10:00Z,1\n2026-06-30T10:30Z,2\n"
    for _ in range(2):
        with transaction(home_engine) as session:
            import_series(session, home=load_home(session), kind="pv", text=text)
    assert rows(home_engine) == [("pv", "10:00", "10:30", 1000.0), ("pv", "10:30", "11:00", 2000.0)]


def test_show_returns_plain_rows_in_the_home_timezone(home_engine) -> None:
    with transaction(home_engine) as session:
        home = load_home(session)
        prices = [Interval(_at(10), _at(11), 0.2), Interval(_at(11), _at(12), 0.1)]
        replace_series(session, home_id=home.id, kind="price", intervals=prices)
        replace_series(session, home_id=home.id, kind="pv", intervals=[Interval(_at(10), _at(12), 800.0)])
        everything = stored_series(session, home=home)
        eleven = datetime.fromtimestamp(_at(11), UTC)
        late_prices = stored_series(session, home=home, kind="price", start=eleven)
    assert everything == [
        {"kind": "price", "start": "2026-06-30T12:00+02:00", "end": "2026-06-30T13:00+02:00", "value": 0.2,
         "unit": "per kWh"},
        {"kind": "price", "start": "2026-06-30T13:00+02:00", "end": "2026-06-30T14:00+02:00", "value": 0.1,
         "unit": "per kWh"},
        {"kind": "pv", "start": "2026-06-30T12:00+02:00", "end": "2026-06-30T14:00+02:00", "value": 800.0,
         "unit": "W"},
    ]
    assert late_prices == everything[1:2]


def _at(hour: int) -> float:
    return datetime(2026, 6, 30, hour, tzinfo=UTC).timestamp()
