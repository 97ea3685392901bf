"""Bad files and the traces people export, end to end on real SQLite files: one line on stderr that
never echoes the file, its exit code, nothing changed; Home Assistant and plug exports read as
traces. Each refusal failed on the main of issue 10 (README, "Bounds").
"""

import json
import os
import sqlite3

import pytest

from tests.input_cases import refused, washer_home, wattplan


@pytest.fixture
def db(tmp_path, monkeypatch):
    return washer_home(tmp_path, monkeypatch)


# --- files ---------------------------------------------------------------------------------------


def test_a_csv_cell_over_the_field_limit_is_one_line(db, tmp_path):
    forecast = tmp_path / "pv.csv"
    forecast.write_text("timestamp,value\n2026-06-30T10:00," + "1" * 140_000 + "\n")
    refused(db, "forecast", "import", "pv", forecast, message="line 2: not CSV: field larger than field limit (131072)")
    trace = tmp_path / "trace.csv"
    trace.write_text("offset,watts\n0," + "1" * 140_000 + "\n")
    refused(db, "profile", "add", "washer", "x", "--csv", trace,
            message="trace.csv line 2: not CSV: field larger than field limit (131072)")


def test_a_json_number_of_400_digits_is_not_finite(db, tmp_path):
    forecast = tmp_path / "pv.json"
    forecast.write_text('[{"start": "2026-06-30T10:00Z", "value": ' + "9" * 400 + "}]")
    refused(db, "forecast", "import", "pv", forecast, message="item 1: the value is not finite")


@pytest.mark.parametrize(("header", "value", "message"), [
    ("value", "1e308", "line 2: the value is beyond 1e+09 W, the largest accepted"),
    ("value_kw", "1e306", "line 2: the value is not finite"),  # finite as written, infinite in W
])
def test_a_forecast_value_too_large_is_refused_after_conversion(db, tmp_path, header, value, message):
    forecast = tmp_path / "pv.csv"
    forecast.write_text(f"timestamp,{header}\n2026-06-30T10:00,{value}\n")
    refused(db, "forecast", "import", "pv", forecast, message=message)


def test_json_output_never_prints_infinity(db):
    with sqlite3.connect(db) as connection:  # a row stored before imports were checked
        connection.execute("INSERT INTO forecast (home_id, kind, starts_at, ends_at, value) "
                           "VALUES (1, 'pv', '2026-06-30 08:00:00', '2026-06-30 09:00:00', 9e999)")
    result = wattplan("forecast", "show", "--json")
    assert "Infinity" not in result.stdout
    assert json.loads(result.stdout)[0]["value"] is None


def test_a_forecast_time_outside_2000_to_2100_is_refused(db, tmp_path):
    forecast = tmp_path / "pv.csv"
    forecast.write_text("timestamp,value\n9999-12-31T23:00,1\n")
    refused(db, "forecast", "import", "pv", forecast, message="line 2: the time is outside the years 2000 to 2100")


def test_a_forecast_covering_more_than_366_days_is_refused(db, tmp_path):
    """Two rows a century apart would be resampled into 52 million slots: a hang, then MemoryError."""
    forecast = tmp_path / "pv.csv"
    forecast.write_text("timestamp,value\n2000-01-01T00:00Z,1\n2099-01-01T00:00Z,2\n")
    refused(db, "forecast", "import", "pv", forecast, message="the series covers 72320 days, more than 366, "
                                                              "the longest accepted")


SECRET = "root:$6$s3cretHash:20228:0:99999:7:::\n"


def test_errors_never_echo_a_file(db, tmp_path):
    shadow = tmp_path / "shadow"
    shadow.write_text(SECRET)
    refused(db, "profile", "add", "washer", "x", "--csv", shadow,
            message="shadow: the header (line 1) names no time column (offset, timestamp, time, last_changed, "
                    "datetime); name it with --time-column")
    refused(db, "forecast", "import", "pv", shadow,
            message="line 1: expected the header timestamp,value|value_w|value_kw, got 1 columns")
    environ = tmp_path / "environ"
    environ.write_text("offset,watts\n0,PGPASSWORD=s3cret\x00HOME=/root\n")
    refused(db, "profile", "add", "washer", "x", "--csv", environ,
            message="environ line 2: the power is not a finite power of zero or more (2000, 2kW)")
    forecast = tmp_path / "pv.json"
    forecast.write_text('[{"start": "2026-06-30T10:00Z", "password": "s3cret"}]')
    refused(db, "forecast", "import", "pv", forecast,
            message='item 1: expected {"start", "value"} or {"start", "end", "value"}, got other keys')


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="no /proc")
def test_the_environment_file_is_never_echoed(db, monkeypatch):
    monkeypatch.setenv("WATTPLAN_TEST_SECRET", "s3cret")
    result = wattplan("profile", "add", "washer", "x", "--csv", "/proc/self/environ", code=1)
    assert "s3cret" not in result.output and result.stderr.count("\n") == 1


def test_non_regular_files_are_refused_without_reading(db, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes to it: reading it would wait forever
    for path in ("/dev/zero", fifo, tmp_path):
        refused(db, "profile", "add", "washer", "x", "--csv", path,
                message=f"cannot read {path}: not a regular file")
        refused(db, "forecast", "import", "pv", path, message=f"cannot read {path}: not a regular file")


def test_a_file_over_4_megabytes_is_refused(db, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("offset,watts\n" + "0,100\n" * 800_000)
    refused(db, "profile", "add", "washer", "x", "--csv", big,
            message=f"cannot read {big}: larger than 4 MB, the largest accepted")
    refused(db, "forecast", "import", "pv", "-", input="x" * (4 * 1024 * 1024 + 1),
            message="cannot read standard input: larger than 4 MB, the largest accepted")


@pytest.mark.parametrize("content", [
    "offset,watts\n0,100\n315360000,0\n",
    "timestamp,power\n2016-01-01T00:00Z,100\n2026-01-01T00:00Z,0\n",
])
def test_a_trace_spanning_ten_years_is_refused(db, tmp_path, content):
    trace = tmp_path / "trace.csv"
    trace.write_text(content)
    refused(db, "profile", "add", "washer", "x", "--csv", trace,
            message="trace.csv line 3: the trace lasts longer than 48h, the longest program")


# --- traces as people export them ----------------------------------------------------------------


def program(db, name: str) -> tuple:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT watts, peak_watts, source FROM profile WHERE name = ?", (name,)).fetchone()


def test_a_home_assistant_history_export_is_a_trace(db, tmp_path):
    export = tmp_path / "history.csv"
    export.write_text("entity_id,state,last_changed\n"
                      "sensor.dryer_power,unavailable,2026-06-30T09:59:00.000Z\n"
                      "sensor.dryer_power,100,2026-06-30T10:00:00.000Z\n"
                      "sensor.dryer_power,3000,2026-06-30T10:00:30.000Z\n"
                      "sensor.dryer_power,unknown,2026-06-30T10:01:00.000Z\n"
                      "sensor.dryer_power,0,2026-06-30T10:02:00.000Z\n")
    assert wattplan("profile", "add", "washer", "dry", "--csv", export).stdout == (
        "added program 'dry' of 'washer': 4m, 0.08 kWh, peak 3kW\n")
    # 30 s at 100 W, then 3000 W for 90 s (the unknown row is skipped), then 0 W for as long (the last row)
    assert program(db, "dry") == ("[1550.0, 3000.0, 0.0, 0.0]", "[3000.0, 3000.0, 0.0, 0.0]",
                                  "measured trace history.csv")


def test_a_home_assistant_export_of_two_entities_is_refused(db, tmp_path):
    export = tmp_path / "history.csv"
    export.write_text("entity_id,state,last_changed\nsensor.a,100,2026-06-30T10:00:00Z\n"
                      "sensor.b,100,2026-06-30T10:01:00Z\n")
    refused(db, "profile", "add", "washer", "dry", "--csv", export,
            message="history.csv line 3: a second entity_id; export one entity's history")


def test_a_plug_export_of_timestamp_and_power_is_a_trace(db, tmp_path):
    export = tmp_path / "plug.csv"
    export.write_text("timestamp,power\n2026-06-30T10:00:00+02:00,2000\n2026-06-30T10:01:00+02:00,1000\n")
    wattplan("profile", "add", "washer", "plug", "--csv", export)
    assert program(db, "plug")[:2] == ("[2000.0, 1000.0]", "[2000.0, 1000.0]")


def test_columns_chosen_by_option_and_unix_seconds(db, tmp_path):
    export = tmp_path / "plug.csv"
    export.write_text("ts,apower,voltage\n1782806400,500,230\n1782806460,1500,230\n")
    wattplan("profile", "add", "washer", "plug", "--csv", export, "--time-column", "ts", "--power-column", "apower")
    assert program(db, "plug")[:2] == ("[500.0, 1500.0]", "[500.0, 1500.0]")
    refused(db, "profile", "add", "washer", "other", "--csv", export, "--time-column", "when",
            message="plug.csv: the header has no column 'when' (--time-column)")


def test_a_trace_from_standard_input(db):
    result = wattplan("profile", "add", "washer", "piped", "--csv", "-", input="offset,watts\n0,1000\n1m,0\n")
    assert result.stdout == "added program 'piped' of 'washer': 2m, 0.02 kWh, peak 1kW\n"
    assert program(db, "piped")[2] == "measured trace (standard input)"
