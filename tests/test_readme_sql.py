"""Every query in the README's "Inspecting the database" runs and answers on a real database."""

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from reconcile.shell import catalog, requests
from reconcile.shell.db import transaction
from reconcile.shell.tick import run_tick
from tests.conftest import T0

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_queries() -> list[str]:
    section = README.read_text().split("<!-- section:database -->")[1].split("<!-- /section:database -->")[0]
    block = re.search(r"```sql\n(.*?)```", section, re.S).group(1)
    body = "\n".join(line for line in block.splitlines() if not line.startswith("--"))
    return [q.strip() for q in body.split(";") if q.strip()]


@pytest.fixture
def busy_db(home_engine, db_path):
    with transaction(home_engine) as session:
        catalog.add_appliance(session, now=T0, name="washer")
        catalog.add_profile(session, now=T0, appliance="washer", name="eco", slot_s=60, watts=[2000] * 30)
        catalog.add_appliance(session, now=T0, name="ev", interruptible=True, min_run_s=600)
        catalog.add_profile(session, now=T0, appliance="ev", name="charge", slot_s=60, watts=[3000] * 60)
        for name in ("washer", "ev"):
            requests.enqueue(session, now=T0, request=requests.Request(name, within_s=8 * 3600))
    run_tick(engine=home_engine, now=T0)
    run_tick(engine=home_engine, now=T0 + timedelta(minutes=1))
    return db_path


def test_readme_has_the_five_queries():
    assert len(readme_queries()) == 5


@pytest.mark.parametrize("index", range(5))
def test_readme_query_answers(busy_db, index):
    query = readme_queries()[index]
    with sqlite3.connect(busy_db) as connection:
        rows = connection.execute(query).fetchall()
    assert rows, query


def test_slot_load_never_exceeds_capacity_in_this_plan(busy_db):
    with sqlite3.connect(busy_db) as connection:
        rows = connection.execute("SELECT planned_w, capacity_w FROM slot_load").fetchall()
    assert rows and all(planned <= capacity for planned, capacity in rows)
