"""wattplan's commands, one module per help panel; `cli.py` builds the app and adds the panels."""
