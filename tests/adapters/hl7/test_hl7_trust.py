"""Sources trusted, not assumed (issue 13, item 2): who may send, over what, and what a stamp may claim.

- Off this machine the listener needs ``[hl7] allow`` or TLS client certificates, and says so.
- MLLP over TLS, verifying client certificates against ``[hl7.tls] client_ca`` (certificates made
  here; an independent TLS client: Python's OpenSSL binding, not the server's code).
- A reading stamped in the future is stored at its arrival and flagged; the screen shows the latest
  by arrival, so a forged stamp cannot hold a chair's value.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.hl7.exposure import ExposureError
from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import Frame, MllpFramer, frame
from monitor.config import Hl7Binding, Hl7Settings, Hl7TlsSettings
from monitor.live import LiveState
from monitor.model import Quality, Reading, Vital
from tests.adapters.hl7.certs import Issued, TestCA
from tests.adapters.hl7.hl7_helpers import Conn, StoredSink, msa, stored_sink
from tests.adapters.hl7.hostile_messages import vitals_message

ROOT = Path(__file__).resolve().parents[3]


# -- who may listen where ---------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.20.0.5", "monitors.example", ""])
def test_a_network_address_without_allow_or_client_certificates_is_refused(host: str) -> None:
    with pytest.raises(ExposureError, match=r"\[hl7\] allow"):
        MllpListener(Hl7Settings(host=host, port=0))


def test_a_network_address_with_allow_or_client_certificates_is_accepted(tmp_path: Path) -> None:
    MllpListener(Hl7Settings(host="0.0.0.0", port=0, allow=["10.20.0.0/24"]))
    ca = TestCA(tmp_path, "clinic")
    server = ca.issue("ivmon-server", server=True)
    tls = Hl7TlsSettings(cert=server.cert, key=server.key, client_ca=ca.pem)
    MllpListener(Hl7Settings(host="0.0.0.0", port=0, tls=tls))
    for loopback in ("127.0.0.1", "::1", "localhost"):
        MllpListener(Hl7Settings(host=loopback, port=0))


def test_serve_refuses_to_start_open_to_the_network_and_says_why(tmp_path: Path) -> None:
    config = tmp_path / "ivmon.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[hl7]\nhost = "0.0.0.0"\nport = 0\n')
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "serve", "--config", str(config), "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "not a loopback address" in proc.stderr
    assert "[hl7] allow" in proc.stderr and "client_ca" in proc.stderr


# -- MLLP over TLS ----------------------------------------------------------------------------
@pytest.fixture
def pki(tmp_path: Path) -> dict[str, object]:
    clinic = TestCA(tmp_path, "clinic")
    stranger = TestCA(tmp_path, "stranger")
    return {
        "ca": clinic,
        "server": clinic.issue("ivmon-server", server=True),
        "monitor": clinic.issue("monitor-07", server=False),
        "impostor": stranger.issue("monitor-99", server=False),
    }


@pytest.fixture
async def tls_listener(pki: dict[str, object], sink: StoredSink) -> AsyncIterator[MllpListener]:
    ca, server = pki["ca"], pki["server"]
    assert isinstance(ca, TestCA) and isinstance(server, Issued)
    tls = Hl7TlsSettings(cert=server.cert, key=server.key, client_ca=ca.pem)
    listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0, timezone="UTC", tls=tls))
    await listener.start(sink)
    try:
        yield listener
    finally:
        await listener.stop()


def client_context(ca: TestCA, me: Issued | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca.pem)
    if me is not None:
        context.load_cert_chain(me.cert, me.key)
    return context


async def tls_exchange(port: int, context: ssl.SSLContext, message: bytes) -> bytes | None:
    """The MSA of the ACK over TLS, or None when the server ends the connection without one."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    except (ssl.SSLError, ConnectionError):
        return None
    try:
        writer.write(frame(message))
        await writer.drain()
        framer = MllpFramer()
        async with asyncio.timeout(5):
            while True:
                data = await reader.read(65536)
                if not data:
                    return None
                for event in framer.feed(data):
                    if isinstance(event, Frame):
                        return next(s for s in event.payload.split(b"\r") if s.startswith(b"MSA|"))
    except (ssl.SSLError, ConnectionError):
        return None  # TLS 1.3: a refused client certificate shows on the first read
    finally:
        writer.close()


async def test_a_monitor_with_a_certificate_of_the_clinic_ca_is_answered_over_tls(
    tls_listener: MllpListener, pki: dict[str, object], sink: StoredSink
) -> None:
    ca, monitor = pki["ca"], pki["monitor"]
    assert isinstance(ca, TestCA) and isinstance(monitor, Issued)
    assert await tls_exchange(tls_listener.port, client_context(ca, monitor), vitals_message("TLS1")) == (
        b"MSA|AA|TLS1"
    )
    assert [r.value for r in sink.readings] == [72.0, 97.0]


async def test_no_certificate_a_strangers_certificate_or_plain_tcp_gets_nothing(
    tls_listener: MllpListener, pki: dict[str, object], sink: StoredSink
) -> None:
    ca, impostor = pki["ca"], pki["impostor"]
    assert isinstance(ca, TestCA) and isinstance(impostor, Issued)
    assert await tls_exchange(tls_listener.port, client_context(ca, None), vitals_message("NOCERT")) is None
    assert await tls_exchange(tls_listener.port, client_context(ca, impostor), vitals_message("STRANGER")) is None
    plain = await Conn.open(tls_listener.port)
    await plain.write(frame(vitals_message("PLAIN")))
    with pytest.raises((ConnectionError, TimeoutError)):
        await plain.ack(timeout=3)
    await plain.close()
    assert sink.readings == []


def test_tls_needs_both_cert_and_key(tmp_path: Path) -> None:
    ca = TestCA(tmp_path, "clinic")
    with pytest.raises(ValueError, match="both cert and key"):
        MllpListener(Hl7Settings(port=0, tls=Hl7TlsSettings(cert=ca.pem)))
    with pytest.raises(ValueError, match="client_ca needs cert and key"):
        MllpListener(Hl7Settings(port=0, tls=Hl7TlsSettings(client_ca=ca.pem)))


# -- stamps from the future -------------------------------------------------------------------
@pytest.fixture
async def chair_listener(db_url: str) -> AsyncIterator[tuple[MllpListener, StoredSink]]:
    async with stored_sink(db_url) as sink:
        settings = Hl7Settings(
            host="127.0.0.1", port=0, timezone="UTC", bindings=[Hl7Binding(bed="chair-1", location="chair-1")]
        )
        listener = MllpListener(settings)
        await listener.start(sink)
        try:
            yield listener, sink
        finally:
            await listener.stop()


async def test_a_forged_future_stamp_is_clamped_flagged_and_cannot_hold_the_screen(
    chair_listener: tuple[MllpListener, StoredSink],
) -> None:
    """The review's reproduction: a forged HR 62 stamped now + 290 s replaced the real HR 90 for 5 minutes."""
    listener, sink = chair_listener
    live = sink.pipeline.live
    monitor = await Conn.open(listener.port)
    forger = await Conn.open(listener.port)
    await monitor.write(frame(vitals_message("REAL1", hr=90, device="0012000000000001")))
    assert msa(await monitor.ack()) == ("AA", "REAL1")

    before = time.time()
    await forger.write(frame(vitals_message("FORGED", hr=62, spo2=99, device="0012000000000666", ts=before + 290)))
    ack = await forger.ack()
    after = time.time()
    assert msa(ack) == ("AA", "FORGED")
    assert "after the message arrived; stored at its arrival" in str(ack), "flagged in the ACK"
    assert listener.counters["future_times_clamped"] == 1
    forged = [r for r in sink.readings if r.source == "0012000000000666"]
    assert forged and all(before <= r.ts <= after for r in forged), "stored at its arrival, not at now + 290 s"

    await monitor.write(frame(vitals_message("REAL2", hr=91, device="0012000000000001")))
    assert msa(await monitor.ack()) == ("AA", "REAL2")
    assert live.vitals_of("chair-1")["hr"]["value"] == 91.0, "the monitor's next reading is shown at once"
    for conn in (monitor, forger):
        await conn.close()


async def test_a_stamp_beyond_the_allowed_clock_skew_is_still_refused(
    chair_listener: tuple[MllpListener, StoredSink],
) -> None:
    listener, sink = chair_listener
    conn = await Conn.open(listener.port)
    await conn.write(frame(vitals_message("FAR", ts=time.time() + 3600)))
    ack = await conn.ack()
    assert msa(ack) == ("AE", "FAR")
    assert "is in the future" in str(ack)
    assert sink.readings == []
    await conn.close()


def test_the_screen_shows_the_latest_arrival_unless_it_arrives_already_stale() -> None:
    live = LiveState()
    now = time.time()

    def hr(value: float, ts: float) -> Reading:
        return Reading(Vital.HR, value, "bpm", ts, "MON", Quality.VALID, "chair-1")

    live.update(hr(62.0, now))  # a forged stamp, clamped to its arrival
    live.update(hr(91.0, now - 3))  # the real monitor, its clock 3 s behind, arrives after it
    assert live.vitals_of("chair-1")["hr"]["value"] == 91.0
    live.update(hr(55.0, now - 600))  # a backlog resent after an outage: stale on arrival
    assert live.vitals_of("chair-1")["hr"]["value"] == 91.0
