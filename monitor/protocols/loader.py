"""Loading the protocol templates: the shipped ones, then a clinic's folder (``[protocols] folder``).

A clinic's file replaces the shipped template of the same id, or adds a protocol. Each file is
``<id>.toml``; a broken one is refused at start with an error naming the file and the field, so a
clinic editing its protocols sees at once what to fix (never a session run on half a template).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from monitor.config import Settings
from monitor.protocols.model import Protocol


class ProtocolError(ValueError):
    """A template that cannot be used, with the file and the field at fault."""


def _reason(error: ValidationError) -> str:
    """Every problem as ``field: message`` (the field path dotted, list positions counted from 1)."""
    parts = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(p + 1) if isinstance(p, int) else str(p) for p in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_protocol(text: str, source: str) -> Protocol:
    """One template from its TOML text; ``source`` (the file) prefixes every error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(f"{source}: {_reason(exc)}") from None


def _from_file(path: Path) -> Protocol:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read: {exc.strerror or exc}") from None
    protocol = parse_protocol(text, str(path))
    if protocol.id != path.stem:
        raise ProtocolError(f"{path}: id: {protocol.id!r} must match the file name ({path.stem}.toml)")
    return protocol


def shipped_protocols() -> dict[str, Protocol]:
    """The templates shipped in ``monitor/protocols/templates``."""
    out: dict[str, Protocol] = {}
    folder = resources.files("monitor.protocols").joinpath("templates")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            protocol = parse_protocol(entry.read_text(encoding="utf-8"), f"monitor/protocols/templates/{entry.name}")
            out[protocol.id] = protocol
    return out


def load_protocols(settings: Settings) -> dict[str, Protocol]:
    """The shipped templates with the clinic's folder over them (same id: the clinic's wins)."""
    protocols = shipped_protocols()
    folder = settings.protocols.folder
    if folder is None:
        return protocols
    if not folder.is_dir():
        raise ProtocolError(f"{folder}: [protocols] folder is not a directory")
    for path in sorted(folder.glob("*.toml")):
        protocol = _from_file(path)
        protocols[protocol.id] = protocol
    return protocols
