"""alembic environment and revisions: the only way wattplan's schema changes.

`HEAD` names the newest revision so that `wattplan tick` can refuse an old database without
importing alembic (a test keeps it equal to alembic's own head).
"""

HEAD = "0005"
