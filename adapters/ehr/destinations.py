"""The two kinds of EHR destination a sender delivers to (``monitor.charting.filing.Destination``).

- :class:`MllpDestination`: ORU^R01 over the project's MLLP client, one persistent connection,
  one message in flight; the ACK must name the message (MSA-2 = MSH-10).
  ``AA``/``CA`` accepted; ``AE``/``CE`` refused for its content (failed, not retried);
  ``AR``/``CR``, no answer, a refused or dropped connection: retried.
- :class:`FhirDestination`: a transaction Bundle per row version POSTed with httpx to the base URL,
  bearer token. 2xx accepted (each entry's own status must be 2xx); 4xx refused (the
  OperationOutcome's text is the reason) except 408/429; 5xx, timeouts and transport errors retried.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.ehr.fhir_bundle import FhirIdentity, bundle_json, transaction
from adapters.ehr.hl7_oru import Hl7Identity, control_id, encode_oru
from adapters.hl7.client import MllpClient
from monitor.charting.filing import ACCEPTED, Outcome, refused, transient
from monitor.store.charting import OutboxEntry


def parse_mllp_url(url: str) -> tuple[str, int]:
    """``mllp://host:port`` -> (host, port)."""
    parts = urlsplit(url)
    if parts.scheme != "mllp" or not parts.hostname or parts.port is None:
        raise ValueError(f"[ehr.hl7] url must look like mllp://host:port, not {url!r}")
    return parts.hostname, parts.port


class MllpDestination:
    name = "hl7"

    def __init__(self, url: str, identity: Hl7Identity, *, timeout_s: float = 30.0) -> None:
        self.host, self.port = parse_mllp_url(url)
        self.identity = identity
        self.client = MllpClient(self.host, self.port, timeout=timeout_s)

    def encode(self, entry: OutboxEntry) -> bytes:
        return encode_oru(entry.payload, entry.id, self.identity)

    async def deliver(self, entry: OutboxEntry) -> Outcome:
        message = self.encode(entry)
        expected = control_id(self.identity, entry.id)
        try:
            ack = await self.client.send(message)
        except (OSError, ConnectionError, TimeoutError) as exc:
            await self.client.close()  # a half-read connection must not pair the next ACK with the wrong message
            return transient(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if ack.control_id != expected:
            await self.client.close()
            return transient(f"ACK for {ack.control_id!r}, expected {expected!r}")
        if ack.code in ("AA", "CA"):
            return ACCEPTED
        if ack.code in ("AE", "CE"):
            return refused(f"HL7 {ack.code}: {ack.text or 'no reason given'}")
        return transient(f"HL7 {ack.code or 'no code'}: {ack.text or 'no reason given'}")

    async def close(self) -> None:
        await self.client.close()


def _outcome_text(response: httpx.Response) -> str:
    """The reason a FHIR server gives: its OperationOutcome's diagnostics/text, else the status line."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    texts: list[str] = []
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        for issue in body.get("issue") or []:
            if isinstance(issue, dict):
                detail = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
                if detail:
                    texts.append(str(detail)[:500])
    return f"HTTP {response.status_code}: " + ("; ".join(texts) if texts else response.reason_phrase)


class FhirDestination:
    name = "fhir"

    def __init__(self, base_url: str, token: str, identity: FhirIdentity, *, timeout_s: float = 30.0) -> None:
        headers = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.http = httpx.AsyncClient(headers=headers, timeout=timeout_s)

    def encode(self, entry: OutboxEntry) -> bytes:
        return bundle_json(transaction([entry.payload], self.identity))

    async def deliver(self, entry: OutboxEntry) -> Outcome:
        body = await asyncio.to_thread(self.encode, entry)  # model validation is CPU work: off the loop
        try:
            response = await self.http.post(self.base_url, content=body)
        except httpx.TransportError as exc:  # refused, reset, timed out
            return transient(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if response.status_code in (408, 429) or response.status_code >= 500:
            return transient(_outcome_text(response))
        if response.status_code >= 400:
            return refused(_outcome_text(response))
        if not 200 <= response.status_code < 300:
            return transient(f"HTTP {response.status_code}")
        return self._entries_ok(response)

    @staticmethod
    def _entries_ok(response: httpx.Response) -> Outcome:
        try:
            reply: Any = response.json()
        except ValueError:
            return ACCEPTED  # a 2xx for a transaction means all of it was applied
        for item in (reply.get("entry") or []) if isinstance(reply, dict) else []:
            status = str(((item or {}).get("response") or {}).get("status", "200"))
            code = status.split()[0] if status else "200"
            if code.isdigit() and int(code) >= 400:
                return refused(f"FHIR entry {status}")
        return ACCEPTED

    async def close(self) -> None:
        await self.http.aclose()
