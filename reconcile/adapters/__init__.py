"""Adapters to devices and home-automation systems: shell that reads and writes what the plan decided."""
