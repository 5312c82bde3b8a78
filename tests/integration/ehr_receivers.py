"""Independent EHR receivers for the charting tests, each on a real socket in a thread of its own.

- :class:`Hl7Receiver`: python-hl7's MLLP server (not ivmon's code) as the interface engine: keeps
  every message it got, answers AA, or AE/AR as the test's ``answer`` says.
- :class:`FhirReceiver`: a small FastAPI FHIR server under uvicorn taking transaction Bundles: each
  is validated against the ``fhir.resources`` R4B models, conditional creates are honoured by
  identifier (a resend creates nothing), conditional updates replace.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import hl7
import hl7.mllp
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.bundle import Bundle

#: (code, text) the receiver answers a message with.
Answer = Callable[[hl7.Message], tuple[str, str]]


def accept_all(_msg: hl7.Message) -> tuple[str, str]:
    return "AA", ""


class Hl7Receiver:
    def __init__(self, port: int, answer: Answer = accept_all) -> None:
        self.port = port
        self.answer = answer
        self.messages: list[hl7.Message] = []
        self.answers: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[Any] = set()
        self._lock = threading.Lock()

    def start(self) -> Hl7Receiver:
        ready = threading.Event()

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()

            async def begin() -> None:
                self._server = await hl7.mllp.start_hl7_server(self._client, "127.0.0.1", self.port)
                ready.set()

            loop.run_until_complete(begin())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=main, name="hl7-receiver", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the HL7 receiver did not start")
        return self

    async def _client(self, reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not writer.is_closing():
                msg = await reader.readmessage()
                code, text = self.answer(msg)
                with self._lock:
                    self.messages.append(msg)
                    self.answers.append(code)
                ack = msg.create_ack(code)
                if text:  # MSA-3, the text an interface engine gives with an AE/AR
                    msa = str(ack.segment("MSA"))
                    ack = hl7.parse(str(ack).replace(msa, f"{msa}|{text}"))
                writer.writemessage(ack)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def stop(self) -> None:
        """Stop listening and drop every connection: the EHR is down."""
        loop = self._loop
        if loop is None:
            return

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.close()
            if self._server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._server.wait_closed(), 5)

        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def accepted(self) -> list[hl7.Message]:
        with self._lock:
            return [m for m, a in zip(self.messages, self.answers, strict=True) if a == "AA"]

    def wait_for(self, n: int, timeout: float = 30.0) -> list[hl7.Message]:
        """The first ``n`` accepted messages, once they are there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.accepted()
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {len(self.accepted())} of {n} messages")


class FhirReceiver:
    """A FHIR server's transaction endpoint: Observations kept by business identifier."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bundles: list[dict[str, Any]] = []
        self.observations: dict[str, dict[str, Any]] = {}
        self.created = 0
        self.updated = 0
        self.unchanged = 0
        self.auth: list[str] = []
        #: Status codes to answer with before taking bundles again (e.g. [503, 503]).
        self.fail_with: list[int] = []
        self.refuse_patient: str | None = None
        self.app = self._build()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/fhir")
        async def transaction(request: Request) -> JSONResponse:
            self.auth.append(request.headers.get("authorization", ""))
            if self.fail_with:
                code = self.fail_with.pop(0)
                return JSONResponse({"resourceType": "OperationOutcome", "issue": []}, status_code=code)
            body = await request.json()
            bundle = Bundle.model_validate(body)  # raises for anything not R4(B)-valid: a 500, and the test fails
            self.bundles.append(body)
            assert bundle.type == "transaction"
            replies = []
            for entry in body["entry"]:
                obs = entry["resource"]
                if obs["subject"]["identifier"]["value"] == self.refuse_patient:
                    outcome = {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "not-found", "diagnostics": "unknown patient"}],
                    }
                    return JSONResponse(outcome, status_code=422)
                ident = obs["identifier"][0]
                key = f"{ident['system']}|{ident['value']}"
                request_ = entry["request"]
                if request_["method"] == "POST":
                    assert request_["ifNoneExist"] == f"identifier={key}"
                    if key in self.observations:
                        self.unchanged += 1
                        replies.append({"response": {"status": "200 OK"}})
                        continue
                    self.created += 1
                    self.observations[key] = obs
                    replies.append({"response": {"status": "201 Created"}})
                else:
                    assert request_["method"] == "PUT" and request_["url"] == f"Observation?identifier={key}"
                    self.updated += 1
                    self.observations[key] = obs
                    replies.append({"response": {"status": "200 OK"}})
            return JSONResponse({"resourceType": "Bundle", "type": "transaction-response", "entry": replies})

        return app

    def start(self) -> FhirReceiver:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fhir-receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the FHIR receiver did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
