"""One way to make a paho-mqtt client for a home's broker: MQTT 5, credentials, TLS.

The tick's session (`client`), the guard and the listener all connect through `new_client`, so a
broker setting (`wattplan mqtt set`: TLS with a CA file and an optional client certificate, a user)
means the same to each. `refusal` says a refused CONNECT as a person reads it.
"""

import ssl

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from reconcile.adapters.mqtt.settings import Settings
from reconcile.adapters.mqtt.tls_files import reason
from reconcile.errors import ExitStatus, ReconcileError

# CONNACK reason codes (MQTT 5, 3.2.2.2) a person can act on, as said on the journal line.
REFUSALS = {
    0x86: "the user name or password was refused",
    0x87: "not authorised (the broker's access rules refuse this user)",
    0x85: "the client id was refused",
    0x8A: "this client is banned",
    0x88: "the server is unavailable",
    0x89: "the server is busy",
}


def new_client(settings: Settings, password: str | None, *, client_id: str, manual_ack: bool = False,
               **options) -> paho.Client:
    """A paho client (callback API 2, MQTT 5) with the home's credentials and TLS set. The TLS
    files are read here, at each connection; one that became unusable since `mqtt set` checked it
    is a ReconcileError (exit 6, the broker unreachable) naming the file, never its content."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5,
                         manual_ack=manual_ack, **options)
    if settings.username:
        client.username_pw_set(settings.username, password)
    if settings.tls:
        try:
            client.tls_set(ca_certs=settings.ca_file, certfile=settings.cert_file, keyfile=settings.key_file)
        except (OSError, ssl.SSLError, ValueError) as error:
            files = ", ".join(f for f in (settings.ca_file, settings.cert_file, settings.key_file) if f)
            raise ReconcileError(f"cannot use the MQTT TLS files {files}: {reason(error)} (`wattplan mqtt set "
                                 "--ca-file/--cert-file/--key-file`)", ExitStatus.BROKER) from None
    return client


def refusal(reason: ReasonCode) -> str:
    """A refused CONNECT in words: the known reasons as REFUSALS says them, else paho's name."""
    return REFUSALS.get(reason.value, str(reason))
