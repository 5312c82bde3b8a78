"""Which chair a device's readings belong to: the one place bed binding is decided.

Two kinds of association tie a device to a chair:

* **fixed**: from the configuration (``[[hl7.bindings]] device``, ``[[serial]]``).
  They never end; a chair with a fixed monitor keeps it across sessions.
* **on screen**: a nurse associates a portable monitor with a chair
  (``POST /api/beds/{id}/devices``). It has a start (readings stamped before it
  are not the chair's) and an end (the nurse removes it, moves the monitor to
  another chair, or the chair's session ends).

A chair bound to a device is **strict**: a reading that claims that chair
(through an HL7 PV1-3 location, say) from any other device is quarantined:
stored, never shown as the chair's value, never judged (``Verdict.QUARANTINED``).
A chair bound only by location (``[[hl7.bindings]] location``) accepts whatever
device reports from there.

Device ids are compared case-insensitively and without surrounding blanks
(``device_key``): operators type them, monitors send them in either case.
PID is never used: on real monitors it is empty, fake or typed by hand
(``research/hl7.md``, "Identity").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

#: How many devices forwarded by a bound gateway (MSH-3) are remembered (bounded: hostile senders).
MAX_CARRIED = 4096
#: How many device ids' normal forms are remembered (the hot path looks them up instead of upper-casing).
MAX_KEYS = 16384


def device_key(device: str) -> str:
    return device.strip().upper()


def location_keys(pv1_3: str, component: str = "^", subcomponent: str = "&") -> tuple[str, ...]:
    """Ways an operator may write a PV1-3 in the configuration.

    The field as sent (trailing empty components dropped), and its non-empty
    parts joined with ``^``: ``^^&10`` (Comen) can be bound as ``10``.
    """
    raw = pv1_3.rstrip(component).strip()
    if not raw:
        return ()
    leaves = [p for c in raw.split(component) for p in c.split(subcomponent) if p]
    compact = "^".join(leaves)
    return (raw.upper(),) if compact.upper() == raw.upper() else (raw.upper(), compact.upper())


class BindingLike(Protocol):
    @property
    def bed(self) -> str: ...
    @property
    def device(self) -> str | None: ...
    @property
    def location(self) -> str | None: ...


@dataclass(slots=True)
class Association:
    """A device on a chair from ``start`` until ``end`` (None: still there)."""

    device: str
    bed: str
    start: float
    user: str
    fixed: bool = False
    end: float | None = None
    ended_by: str | None = None
    id: int | None = None  # its row (on-screen associations are stored)

    def covers(self, ts: float) -> bool:
        return self.start <= ts and (self.end is None or ts < self.end)


class Verdict(Enum):
    ACCEPTED = 1  # the reading's bed (possibly None: unassigned) stands
    QUARANTINED = 2  # it claimed a chair bound to another device


class Bindings:
    """Fixed and on-screen associations, location bindings, and the strict-binding check.

    Mutated only on the event loop (associations come through the service's
    :class:`monitor.devices.DeviceManager`); read on the hot path with dict lookups.
    """

    def __init__(
        self,
        fixed: Mapping[str, str] | None = None,
        locations: Mapping[str, str] | None = None,
    ) -> None:
        #: device key -> its current association (fixed or on screen)
        self._by_device: dict[str, Association] = {}
        #: bed -> device keys bound to it now
        self._by_bed: dict[str, set[str]] = {}
        self._by_location: dict[str, str] = {device_key(k): v for k, v in (locations or {}).items()}
        #: devices heard through a bound gateway (MSH-3 binding): device key -> bed
        self._carried: dict[str, str] = {}
        #: bed -> the device last associated on screen (preselected when a session starts)
        self.last_on_bed: dict[str, str] = {}
        self._keys: dict[str, str] = {}  # source as sent -> device_key(source)
        for device, bed in (fixed or {}).items():
            self._put(Association(device.strip(), bed, 0.0, "configuration", fixed=True))

    @classmethod
    def from_config(cls, hl7_bindings: Iterable[BindingLike], serial: Iterable[tuple[str, str]] = ()) -> Bindings:
        """``[[hl7.bindings]]`` (by device or location) and ``[[serial]]`` (source, bed) pairs."""
        fixed: dict[str, str] = {}
        locations: dict[str, str] = {}
        for b in hl7_bindings:
            if b.device:
                fixed[b.device] = b.bed
            if b.location:
                locations[b.location] = b.bed
        fixed.update(dict(serial))
        return cls(fixed, locations)

    # -- state -------------------------------------------------------------------------
    def _put(self, assoc: Association) -> None:
        key = device_key(assoc.device)
        self._by_device[key] = assoc
        self._by_bed.setdefault(assoc.bed, set()).add(key)

    def _drop(self, assoc: Association) -> None:
        key = device_key(assoc.device)
        if self._by_device.get(key) is assoc:
            del self._by_device[key]
        held = self._by_bed.get(assoc.bed)
        if held is not None:
            held.discard(key)
            if not held:
                del self._by_bed[assoc.bed]

    def __bool__(self) -> bool:
        return bool(self._by_device or self._by_location)

    def current(self, device: str) -> Association | None:
        return self._by_device.get(device_key(device))

    def on_bed(self, bed: str) -> list[Association]:
        return [self._by_device[k] for k in sorted(self._by_bed.get(bed, ()))]

    def all_current(self) -> list[Association]:
        return list(self._by_device.values())

    def fixed_on(self, bed: str) -> bool:
        return any(a.fixed for a in self.on_bed(bed))

    # -- changes (the caller stores and audits them) --------------------------------------
    def associate(self, device: str, bed: str, ts: float, user: str) -> tuple[Association, list[Association]]:
        """``device`` on ``bed`` from ``ts``; returns the new association and those it ended (a move)."""
        ended: list[Association] = []
        held = self.current(device)
        if held is not None:
            if held.fixed:
                raise BindingError(f"device {device} is bound to {held.bed} by the configuration")
            self.end(held, ts, user)
            ended.append(held)
        assoc = Association(device.strip(), bed, ts, user)
        self._put(assoc)
        self.last_on_bed[bed] = assoc.device
        return assoc, ended

    def end(self, assoc: Association, ts: float, user: str) -> None:
        if assoc.fixed:
            raise BindingError(f"device {assoc.device} is bound to {assoc.bed} by the configuration")
        assoc.end, assoc.ended_by = max(ts, assoc.start), user
        self._drop(assoc)

    def end_for_bed(self, bed: str, ts: float, user: str) -> list[Association]:
        """A chair's session ended: its on-screen associations end with it (fixed ones stay)."""
        ended = [a for a in self.on_bed(bed) if not a.fixed]
        for assoc in ended:
            self.end(assoc, ts, user)
        return ended

    def restore(self, assoc: Association) -> None:
        """An open association read back from storage after a restart."""
        if self.current(assoc.device) is None:
            self._put(assoc)
        self.last_on_bed.setdefault(assoc.bed, assoc.device)

    # -- the hot path ----------------------------------------------------------------------
    def bed_of(self, source: str, ts: float) -> str | None:
        """The chair ``source``'s reading stamped ``ts`` belongs to by association, if any."""
        key = device_key(source)
        assoc = self._by_device.get(key)
        if assoc is not None:
            return assoc.bed if ts >= assoc.start else None
        return self._carried.get(key)

    def judge(self, source: str, claimed: str | None, ts: float) -> tuple[str | None, Verdict]:
        """The bed a reading belongs to, given the bed its adapter claims (PV1-3, a serial port, a simulator).

        The device's own association wins over any claim; a claim of a chair bound to
        other devices is quarantined; otherwise the claim stands (None: unassigned).
        """
        if not self._by_device and not self._carried:  # nothing bound to a device: the claim stands
            return claimed, Verdict.ACCEPTED
        key = self._keys.get(source)
        if key is None:
            key = device_key(source)
            if len(self._keys) < MAX_KEYS:
                self._keys[source] = key
        assoc = self._by_device.get(key)
        if assoc is not None:
            # Stamped before its association began: not the chair's (a nurse may claim it later).
            return (assoc.bed if ts >= assoc.start else None), Verdict.ACCEPTED
        carried = self._carried.get(key)
        if carried is not None:
            return carried, Verdict.ACCEPTED
        if claimed is not None and claimed in self._by_bed:
            return claimed, Verdict.QUARANTINED
        return claimed, Verdict.ACCEPTED

    def resolve(
        self, device_ids: Sequence[str], locations: Sequence[str], sender_ids: Sequence[str] = ()
    ) -> str | None:
        """HL7: the bed a message's readings claim: their own device first, then PV1-3, then the sender.

        A gateway (MSH-3) may forward many monitors, so its binding comes last; the
        devices it forwards count as bound with it (they are not foreign to its chair).
        """
        for key in device_ids:
            assoc = self._by_device.get(device_key(key))
            if assoc is not None:
                return assoc.bed
        for key in locations:
            bed = self._by_location.get(key)
            if bed is not None:
                return bed
        for key in sender_ids:
            assoc = self._by_device.get(device_key(key))
            if assoc is not None:
                if len(self._carried) < MAX_CARRIED:
                    for device in device_ids:
                        self._carried.setdefault(device_key(device), assoc.bed)
                return assoc.bed
        return None


class BindingError(ValueError):
    """An association that cannot be made or ended (e.g. a fixed binding from the configuration)."""
