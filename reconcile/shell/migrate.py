"""`wattplan db upgrade|current`: alembic driven from code, with no alembic.ini to find.

alembic is imported here only, so `wattplan tick` does not pay for it at start-up.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations
from reconcile.shell.db import current_revision, translate_errors


def alembic_config(engine: Engine) -> Config:
    """An alembic Config that migrates `engine`'s database through one shared connection."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    # ConfigParser interpolates '%': the %-escapes of a path like /home/jürgen must be doubled.
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate to `revision` in one transaction; returns the revision reached."""
    return _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Migrate down to `revision` (`base` empties the database)."""
    return _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step, revision: str) -> str | None:
    def run() -> None:
        config = alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config, revision)

    translate_errors(run)
    return current_revision(engine)


def head_revision() -> str:
    """alembic's own head, read from the revision files."""
    script = ScriptDirectory(str(Path(migrations.__file__).parent))
    return script.get_current_head()
