"""Session protocols as data: templates (TOML), their loader, the dose arithmetic and the schedule."""

from monitor.protocols.loader import ProtocolError, load_protocols, parse_protocol, shipped_protocols
from monitor.protocols.model import Checkpoint, DischargeCriteria, Dose, PhasePlan, Protocol

__all__ = [
    "Checkpoint",
    "DischargeCriteria",
    "Dose",
    "PhasePlan",
    "Protocol",
    "ProtocolError",
    "load_protocols",
    "parse_protocol",
    "shipped_protocols",
]
