"""Who may send HL7: the listener refuses to face a network without naming its senders.

Anyone who reaches the HL7 port can write a chair's vitals (issue 13). On this
machine only (loopback) that is the machine's own users; off it, ``ivmon``
starts only when the configuration names the senders (``[hl7] allow``) or makes
them prove who they are (TLS with ``[hl7.tls] client_ca``).
"""

from __future__ import annotations

import ipaddress
import ssl

from monitor.config import Hl7Settings, Hl7TlsSettings


class ExposureError(ValueError):
    """The HL7 listener would take messages from anyone on the network."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "" (every interface): not provably this machine


def check_exposure(settings: Hl7Settings) -> None:
    """Raise :class:`ExposureError` with what to configure when the listener would be open to any sender."""
    if is_loopback(settings.host) or settings.allow or settings.tls.client_ca is not None:
        return
    raise ExposureError(
        f"hl7.host = {settings.host!r} is not a loopback address and nothing says which senders may write "
        'vital signs: set [hl7] allow = ["10.20.0.0/24", ...] (the monitors\' addresses or networks), or '
        'require TLS client certificates ([hl7.tls] cert, key and client_ca), or keep host = "127.0.0.1"'
    )


def posture(settings: Hl7Settings) -> str:
    """One line for the start-up log: who can send."""
    parts = ["TLS" if settings.tls.cert else "plain TCP"]
    if settings.tls.client_ca:
        parts.append("client certificates required")
    if settings.allow:
        parts.append("senders allowed: " + ", ".join(settings.allow))
    elif is_loopback(settings.host):
        parts.append("this machine only")
    return "; ".join(parts)


def server_context(tls: Hl7TlsSettings) -> ssl.SSLContext | None:
    """The TLS context of the HL7 port (None: plain TCP); raises ValueError on an incomplete setting."""
    if tls.cert is None and tls.key is None:
        if tls.client_ca is not None:
            raise ValueError("[hl7.tls] client_ca needs cert and key (the server's own certificate)")
        return None
    if tls.cert is None or tls.key is None:
        raise ValueError("[hl7.tls] needs both cert and key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
        if tls.client_ca is not None:
            context.load_verify_locations(cafile=tls.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"[hl7.tls]: cannot load the certificates ({exc})") from None
    return context
