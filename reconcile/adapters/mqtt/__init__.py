"""MQTT and Home Assistant (issue 12): each tick drains the commands queued for it, reads the meter,
plans, commits, then acknowledges and publishes retained state, discovery and relay commands.

paho-mqtt is imported only by `client` (and so only when a home has MQTT configured): a tick
without MQTT costs what it did before. Guide and topic reference: docs/home-assistant.md.
"""
