"""The TLS files of a home's broker settings (`mqtt set --ca-file/--cert-file/--key-file`).

Only their paths are stored; every connection reads them again (`connect.new_client`), so a
renewed certificate needs no `mqtt set`. They are checked when set, the way the connection will
load them (Python's `ssl`, as paho does), so a wrong file is one line now rather than a broker
error at every tick. No error quotes a file's content: only its path and OpenSSL's reason.
"""

import os
import ssl
from pathlib import Path

from reconcile.errors import ReconcileError
from reconcile.shell.textfile import read_text

CLEAR = ("", "none")  # `--ca-file none`: the system's CA certificates again (and no client certificate)


def stored_path(path: str | None) -> str | None:
    """The path as stored (absolute: the tick's service runs in another directory), None to clear."""
    if path is None or path in CLEAR:
        return None
    return os.path.abspath(path)


def check(ca_file: str | None, cert_file: str | None, key_file: str | None) -> None:
    """Refuse, in one line, files the TLS connection could not load (unreadable, not PEM, a key that
    is not the certificate's or is encrypted: paho gets no passphrase)."""
    if key_file and not cert_file:
        raise ReconcileError("--key-file is the key of a client certificate: give --cert-file too")
    for option, path in (("--ca-file", ca_file), ("--cert-file", cert_file), ("--key-file", key_file)):
        if path:
            read_text(Path(path), failure=f"cannot read the {option} {path}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError, ValueError) as error:
            raise ReconcileError(f"--ca-file {ca_file} holds no usable PEM CA certificate ({reason(error)})") from None
    if cert_file:
        _check_certificate(context, cert_file, key_file)


def _check_certificate(context: ssl.SSLContext, cert_file: str, key_file: str | None) -> None:
    asked = []

    def no_passphrase() -> str:  # an encrypted key: paho's tls_set is given no passphrase at connect
        asked.append(True)
        return ""

    try:
        context.load_cert_chain(cert_file, key_file, password=no_passphrase)
    except (ssl.SSLError, OSError, ValueError) as error:
        if asked:
            raise ReconcileError(f"the key of {cert_file} is encrypted: give an unencrypted --key-file "
                                 "(readable by the tick's user only)") from None
        key = f" with --key-file {key_file}" if key_file else " (its key in the same file, or give --key-file)"
        raise ReconcileError(f"--cert-file {cert_file}{key} is not a PEM certificate and its key "
                             f"({reason(error)})") from None


def reason(error: Exception) -> str:
    """OpenSSL's reason (`KEY_VALUES_MISMATCH`), else the error's text: never the file's content."""
    said = getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)
    return str(said).splitlines()[0][:120] if said else type(error).__name__
