"""``--to mllp://HOST:PORT``: each simulated patient is a monitor on its own persistent MLLP connection.

Like a real monitor it waits for each ACK before the next message, resends
the same message (same MSH-10) after a lost connection, and reports every
non-``AA`` answer.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from urllib.parse import urlsplit

from adapters.hl7.client import MllpClient
from monitor.model import NIBP_VITALS, Vital
from simulators.emit.pcd01 import device_eui, encode_pcd01, next_control_id
from simulators.targets import Target, register_target

log = logging.getLogger(__name__)


class MllpTarget:
    def __init__(self, host: str, port: int, *, location_prefix: str = "chair-", retries: int = 3) -> None:
        self.host = host
        self.port = port
        self.location_prefix = location_prefix
        self.retries = retries
        self.clients: dict[int, MllpClient] = {}
        self.acks: Counter[str] = Counter()
        self.problems: list[str] = []  # non-AA answers, for the final report

    @classmethod
    def from_url(cls, url: str, *, location_prefix: str = "chair-") -> MllpTarget:
        parts = urlsplit(url)
        if parts.scheme != "mllp" or not parts.hostname:
            raise ValueError(f"expected mllp://HOST:PORT, got {url!r}")
        return cls(parts.hostname, parts.port or 2575, location_prefix=location_prefix)

    async def open(self) -> None:
        return None  # connections open lazily, one per patient, as monitors do

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        client = self.clients.get(patient)
        if client is None:
            client = self.clients[patient] = MllpClient(self.host, self.port)
        nibp_only = bool(vitals) and set(vitals) <= NIBP_VITALS
        message = encode_pcd01(
            vitals,
            ts,
            device=device_eui(patient),
            location=f"{self.location_prefix}{patient + 1}",  # patient 0 is the demo's chair-1
            control_id=next_control_id(),
            nibp_ts=ts if nibp_only else None,
        )
        for attempt in range(self.retries + 1):
            try:
                ack = await client.send(message)
                break
            except (ConnectionError, OSError, TimeoutError) as exc:
                await client.close()
                if attempt == self.retries:
                    raise ConnectionError(f"patient {patient}: no ACK from {self.host}:{self.port} ({exc})") from exc
        self.acks[ack.code] += 1
        if ack.code != "AA":
            problem = f"patient {patient}: {ack.code or 'no code'} {ack.text}".strip()
            self.problems.append(problem)
            log.warning("MLLP target: %s", problem)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.clients.clear()
        if self.problems:
            log.warning("MLLP target: %d non-AA answers (%s)", len(self.problems), dict(self.acks))


@register_target("mllp")
def mllp_target(to: str, args: argparse.Namespace) -> Target:
    return MllpTarget.from_url(to, location_prefix=getattr(args, "location_prefix", None) or "chair-")
