"""``--to mllp://HOST:PORT``: each simulated patient is a monitor on its own persistent MLLP connection.

Like a real monitor it waits for each ACK before the next message, resends
the same message (same MSH-10) after a refused or lost connection, with a
growing pause, and reports every non-``AA`` answer. Connections open lazily,
at the patient's first message, a few at a time. The counts (messages, ACK
codes, readings in ``AA``'d messages) are what a test compares with the
readings the server stored.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from collections import Counter
from urllib.parse import urlsplit

from adapters.hl7.client import Ack, MllpClient
from monitor.clock import REAL_CLOCK, Clock
from monitor.model import NIBP_VITALS, Vital
from monitor.retry import Backoff, GaveUp, retry
from simulators.emit.pcd01 import device_eui, encode_pcd01, next_control_id
from simulators.targets import Target, register_target

log = logging.getLogger(__name__)

#: Pause before the first resend; it doubles up to the second value.
FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 2.0
#: Non-AA answers kept (and logged) word for word; later ones are only counted.
PROBLEMS_KEPT = 20


class MllpTarget:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        location_prefix: str = "chair-",
        retry_for_s: float = 60.0,
        connecting_at_once: int = 32,
        ack_timeout_s: float = 30.0,
        stamps: Clock = REAL_CLOCK,
    ) -> None:
        #: The clock the readings are stamped on (the simulator's, scaled by --speed): ACK delays are
        #: measured from a row's stamp on it, in real seconds.
        self.stamps = stamps
        self.host = host
        self.port = port
        self.location_prefix = location_prefix
        self.retry_for_s = retry_for_s
        self.ack_timeout_s = ack_timeout_s
        self.clients: dict[int, MllpClient] = {}
        self.acks: Counter[str] = Counter()
        self.problems: list[str] = []  # the first non-AA answers, for the final report
        self.messages = 0  # distinct messages (resends not counted)
        self.readings_acked = 0  # vitals in AA'd messages
        self.warnings = 0  # AA'd messages whose ACK carried warnings (rows refused)
        self.retries = 0
        self.connections = 0
        self.unanswered = 0
        self.ack_delay_max_s = 0.0
        self._ack_delay_sum_s = 0.0
        # 1,000 monitors starting together would overflow the server's accept backlog (SYNs dropped,
        # retried a second later): only a few connections are being opened at any time.
        self._connecting = asyncio.Semaphore(connecting_at_once)
        self._jitter = random.Random()

    @classmethod
    def from_url(cls, url: str, *, location_prefix: str = "chair-", stamps: Clock = REAL_CLOCK) -> MllpTarget:
        parts = urlsplit(url)
        if parts.scheme != "mllp" or not parts.hostname:
            raise ValueError(f"expected mllp://HOST:PORT, got {url!r}")
        return cls(parts.hostname, parts.port or 2575, location_prefix=location_prefix, stamps=stamps)

    async def open(self) -> None:
        return None  # connections open lazily, one per patient, as monitors do

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        """One message for ``patient``; returns once it is answered (raises when it never is)."""
        client = self.clients.get(patient)
        if client is None:
            client = self.clients[patient] = MllpClient(self.host, self.port, timeout=self.ack_timeout_s)
        nibp_only = bool(vitals) and set(vitals) <= NIBP_VITALS
        message = encode_pcd01(
            vitals,
            ts,
            device=device_eui(patient),
            location=f"{self.location_prefix}{patient + 1}",  # patient 0 is the demo's chair-1
            control_id=next_control_id(),
            nibp_ts=ts if nibp_only else None,
        )
        self.messages += 1
        ack = await self._deliver(patient, client, message)
        self._count(patient, ack, ts, len(vitals))

    async def _deliver(self, patient: int, client: MllpClient, message: bytes) -> Ack:
        """Send until answered. The same bytes every time: a message stored before its ACK was lost
        is acknowledged again by the server (same MSH-10), not stored twice."""

        async def attempt() -> Ack:
            try:
                await self._connect(client)
                return await client.send(message)
            except OSError:  # refused, reset, closed before the ACK (over the server's cap), timed out
                await client.close()
                raise

        def failed(exc: BaseException, _delay: float) -> None:
            if not self.retries:  # said once: a wrong address would otherwise look like a hang
                log.warning("MLLP target: %s:%d: %s; retrying", self.host, self.port, str(exc) or type(exc).__name__)
            self.retries += 1

        # Jittered: after a server restart its monitors must not all come back in the same instant.
        backoff = Backoff(first_s=FIRST_PAUSE_S, max_s=LONGEST_PAUSE_S, jitter=0.5, rng=self._jitter)
        try:
            return await retry(
                attempt, backoff, retry_on=(OSError,), give_up_after_s=self.retry_for_s, on_failure=failed
            )
        except GaveUp as exc:
            self.unanswered += 1
            cause = exc.__cause__
            reason = (str(cause) or type(cause).__name__) if cause is not None else str(exc)
            raise ConnectionError(
                f"patient {patient}: no ACK from {self.host}:{self.port} in {self.retry_for_s:g} s ({reason})"
            ) from cause

    async def _connect(self, client: MllpClient) -> None:
        if client.connected:
            return
        async with self._connecting:
            await client.connect()
        self.connections += 1

    def _count(self, patient: int, ack: Ack, ts: float, readings: int) -> None:
        self.acks[ack.code or "none"] += 1
        if ack.code == "AA":
            self.readings_acked += readings
            self.warnings += bool(ack.text)
            delay = max(0.0, (self.stamps.now() - ts) / self.stamps.rate)
            self._ack_delay_sum_s += delay
            self.ack_delay_max_s = max(self.ack_delay_max_s, delay)
            return
        if len(self.problems) < PROBLEMS_KEPT:
            problem = f"patient {patient}: {ack.code or 'no code'} {ack.text}".strip()
            self.problems.append(problem)
            log.warning("MLLP target: %s", problem)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.clients.clear()
        refused = self.messages_answered - self.acks["AA"]
        if refused:
            log.warning("MLLP target: %d non-AA answers (%s)", refused, dict(self.acks))

    # -- the final report ------------------------------------------------------------------

    @property
    def messages_answered(self) -> int:
        return self.acks.total()

    @property
    def all_accepted(self) -> bool:
        """Every message sent was answered AA."""
        return self.acks["AA"] == self.messages

    def summary(self) -> dict[str, object]:
        aa = self.acks["AA"]
        return {
            "messages_sent": self.messages,
            "acks": dict(self.acks),
            "readings_acked": self.readings_acked,
            "aa_with_warnings": self.warnings,
            "unanswered": self.unanswered,
            "retries": self.retries,
            "connections": self.connections,
            # From the instant a row was due to its AA: how far the monitors fell behind.
            "ack_delay_s": {
                "mean": round(self._ack_delay_sum_s / aa, 4) if aa else None,
                "max": round(self.ack_delay_max_s, 4),
            },
            "problems": list(self.problems),
        }

    def report(self) -> str:
        codes = ", ".join(f"{code} {n}" for code, n in sorted(self.acks.items())) or "none"
        return (
            f"{self.messages} messages sent, ACK {codes}, {self.readings_acked} readings acknowledged, "
            f"{self.unanswered} unanswered, {self.retries} retries, {self.connections} connections, "
            f"ACK delay max {self.ack_delay_max_s:.2f} s"
        )


@register_target("mllp")
def mllp_target(to: str, args: argparse.Namespace) -> Target:
    return MllpTarget.from_url(
        to, location_prefix=getattr(args, "location_prefix", None) or "chair-", stamps=args.stamps
    )
