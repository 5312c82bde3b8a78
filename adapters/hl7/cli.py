"""``ivmon hl7 codes [--since T]``: every observation code the HL7 listener has seen, and what ivmon made of it.

For the integrator connecting a clinic's monitors: a code marked ``?`` was not
mapped but looks like a vital (by its text or unit). A line in ``[hl7]
local_codes`` maps it (``"SYSTEM:CODE" = "hr"``), or marks it as not a vital
(``= "-"``); the running service picks the change up within seconds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: ``30m``/``2h``/``7d`` ago, an ISO 8601 time (with offset or local), or POSIX seconds."""
    # a command line reads stored data on the wall clock.
    now = time.time() if now is None else now
    value = text.strip()
    m = _RELATIVE.match(value)
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError(f"--since {text!r}: expected 30m, 2h, 7d, an ISO 8601 time or POSIX seconds") from None


def add_hl7_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="hl7_command", required=True)
    codes = sub.add_parser("codes", help="every observation code seen, per sender, and what ivmon made of it")
    codes.add_argument("--since", help="only codes seen since: 30m, 2h, 7d, an ISO 8601 time or POSIX seconds")
    codes.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    codes.add_argument("--config", help="TOML configuration file (for the database)")
    codes.add_argument("--db", help="database URL")


def hl7_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from monitor.config import load_settings
    from monitor.store import database
    from monitor.store.hl7_codes import list_codes

    out = out or sys.stdout
    overrides: dict[str, Any] = {"db_url": args.db} if args.db else {}
    settings = load_settings(Path(args.config) if args.config else None, **overrides)
    since = parse_since(args.since) if args.since else None
    engine = database.make_engine(settings.database_url)
    try:
        database.upgrade(engine)
        rows = list_codes(engine, since)
    finally:
        engine.dispose()
    if args.json:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    write_table(rows, out)
    return 0


def write_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        out.write("no observation codes seen yet\n")
        return
    header = ("", "sender", "code", "text", "system", "unit", "count", "example", "ivmon made of it")
    table = [
        (
            "?" if r["flagged"] else "",
            r["sender"],
            r["code"],
            r["label"],
            r["system"],
            r["unit"],
            str(r["count"]),
            r["example_value"],
            r["outcome"],
        )
        for r in rows
    ]
    widths = [min(40, max(len(h), *(len(row[i]) for row in table))) for i, h in enumerate(header)]
    for row in (header, *table):
        out.write("  ".join(cell[:40].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    flagged = sum(1 for r in rows if r["flagged"])
    if flagged:
        out.write(
            f"\n? {flagged} unmapped code(s) look like a vital. Map one in [hl7] local_codes, e.g.\n"
            '  local_codes = { "SYSTEM:CODE" = "hr" }   (or "-" for a code that is not a vital)\n'
        )
