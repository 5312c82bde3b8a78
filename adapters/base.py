"""The seam every input uses.

An adapter reads a device (or simulates one) and pushes readings and
device-status events into an :class:`IngestSink`. It never knows what happens
behind the sink (validation, storage, alarms, fan-out): the pipeline
implements the sink. ``await sink.submit(...)`` returns once the items are
durably stored, which is what lets the HL7 adapter acknowledge only after
commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from monitor.model import IngestItem, SubmitResult

__all__ = ["Adapter", "IngestSink", "SubmitResult", "create", "register"]


@runtime_checkable
class IngestSink(Protocol):
    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        """Validate, bind, store, judge and publish ``items``.

        Returns when they are committed. ``dedupe_key`` (e.g. HL7 sender +
        MSH-10) makes a retransmission a no-op that still succeeds.
        """
        ...


@runtime_checkable
class Adapter(Protocol):
    """A running input. ``run`` returns only when cancelled (or when a finite source is exhausted)."""

    name: str

    async def run(self, sink: IngestSink) -> None: ...

    def health(self) -> dict[str, object]:
        """Its state for ``GET /api/health`` (connected, counters, last error)."""
        ...


AdapterFactory = Callable[[str, dict[str, object]], Adapter]

_registry: dict[str, AdapterFactory] = {}


def register(scheme: str) -> Callable[[AdapterFactory], AdapterFactory]:
    """Register a factory for URL-like adapter specs (``sim://``, ``mllp://``, ``serial:``)."""

    def wrap(factory: AdapterFactory) -> AdapterFactory:
        _registry[scheme] = factory
        return factory

    return wrap


def scheme_of(spec: str) -> str:
    return spec.split(":", 1)[0].lower() if ":" in spec else ""


def create(spec: str, options: dict[str, object] | None = None) -> Adapter:
    """Build the adapter that ``spec`` names; options come from the configuration."""
    # Importing the modules registers their factories; done here so that a
    # caller never has to know which module implements which scheme.
    import adapters.hl7.listener
    import adapters.serial.transport
    import adapters.sim  # noqa: F401

    scheme = scheme_of(spec)
    try:
        factory = _registry[scheme]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none"
        raise ValueError(f"no adapter for {spec!r} (known schemes: {known})") from None
    return factory(spec, options or {})
