"""``ivmon export SESSION --format csv|parquet|json|pdf|record|rems [--out FILE]``: the same files as the
review page, and the printed records (``record``: the infusion record, ``rems``: the esketamine REMS facts).

CSV and Parquet hold one table each, so a whole export (``--what all``, the
default) writes three files beside each other: ``NAME.readings.EXT``,
``NAME.alarms.EXT``, ``NAME.events.EXT``. JSON holds all three in one document;
PDF is the printable report. ``--out -`` writes a single table or the JSON
document to standard output. Every export is audited (user ``cli``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.clock import REAL_CLOCK
from monitor.store import readings as reading_store

if TYPE_CHECKING:  # heavy imports wait until an export runs: every ``ivmon`` command builds this parser
    import pandas as pd
    from sqlalchemy import Engine

    from dashboard.review.data import SessionRecord
    from monitor.config import Settings

WHAT = ("all", "readings", "alarms", "events")
#: The printed records (dashboard/records): the infusion record and the REMS form's facts.
RECORDS = ("record", "rems")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session id, or 'alarms' for the alarm committee's report (pdf or csv)")
    parser.add_argument("--format", choices=["csv", "parquet", "json", "pdf", *RECORDS], default="csv")
    parser.add_argument("--what", choices=WHAT, default="all", help="which table (default: all; pdf: the report)")
    parser.add_argument("--out", help="output file (default: session-ID.EXT in the current folder; - = stdout)")
    parser.add_argument("--config", help="TOML configuration file (database, rule file)")
    parser.add_argument("--db", help="database URL (overrides the configuration)")
    parser.add_argument(
        "--from", dest="from_", help="alarms: period start (POSIX seconds or ISO 8601; default 30 days back)"
    )
    parser.add_argument("--to", help="alarms: period end, excluded (default: now)")


def _tables(engine: Engine, record: SessionRecord, what: str) -> dict[str, pd.DataFrame]:
    from dashboard.review import exports

    out: dict[str, pd.DataFrame] = {}
    if what in ("all", "readings"):
        out["readings"] = exports.readings_table(reading_store.session_readings(engine, record.session.id))
    if what in ("all", "alarms"):
        out["alarms"] = exports.alarms_table(record.alarms)
    if what in ("all", "events"):
        out["events"] = exports.events_table(
            record.session, record.notes, record.devices, record.alarm_events, record.alarms
        )
    return out


def _printed_record(engine: Engine, settings: Settings, sid: int, kind: str) -> bytes | None:
    """The infusion record or the REMS facts as PDF; None: no REMS form (its protocol has none)."""
    from alerts.rules import rules_from_settings
    from dashboard.records.data import gather
    from dashboard.records.infusion import render_record
    from dashboard.records.rems import render_rems
    from dashboard.review.data import rules_for
    from monitor.charting.runtime import plan_from_settings
    from monitor.clock import REAL_CLOCK
    from monitor.protocols import load_protocols

    rules = rules_for(engine, None, sid, rules_from_settings(settings.alarms.rules_file))
    data = gather(engine, sid, rules, plan_from_settings(settings.ehr), REAL_CLOCK.now(), load_protocols(settings))
    if data is None or (kind == "rems" and not data.has_form("rems")):
        return None
    return (render_record if kind == "record" else render_rems)(data, settings.clinic)


def export_command(args: argparse.Namespace) -> int:
    import orjson

    from alerts.rules import rules_from_settings
    from dashboard.review import data, exports
    from monitor.config import load_settings
    from monitor.store import audit as audit_store
    from monitor.store import database

    overrides: dict[str, object] = {"db_url": args.db} if args.db else {}
    settings = load_settings(Path(args.config) if args.config else None, **overrides)
    if args.session != "alarms" and not args.session.isdigit():
        print(f"ivmon export: {args.session!r} is neither a session id nor 'alarms'", file=sys.stderr)
        return 2
    engine = database.make_engine(settings.database_url)
    database.upgrade(engine)
    if args.session == "alarms":
        return _alarm_report(engine, settings, args)
    record = data.load_record(engine, int(args.session))
    if record is None:
        print(f"ivmon export: no session {args.session}", file=sys.stderr)
        return 2
    sid = record.session.id
    written: list[str] = []
    if args.format in RECORDS:
        pdf = _printed_record(engine, settings, sid, args.format)
        if pdf is None:
            print(f"ivmon export: session {sid}: its protocol has no REMS form", file=sys.stderr)
            return 2
        target = Path(args.out or f"session-{sid}-{args.format}.pdf")
        target.write_bytes(pdf)
        written.append(str(target))
    elif args.format == "pdf":
        from dashboard.report import render_report

        rules = data.rules_for(engine, None, sid, rules_from_settings(settings.alarms.rules_file))
        target = Path(args.out or f"session-{sid}-report.pdf")
        target.write_bytes(render_report(record, rules, REAL_CLOCK.now()))  # a CLI reads stored data now
        written.append(str(target))
    else:
        tables = _tables(engine, record, args.what)
        if args.format == "json":
            doc: dict[str, object] = {"session": sid, "units": exports.UNITS}
            for name, frame in tables.items():
                doc[name] = orjson.loads(exports.encode(frame, "json", session_id=sid, name=name))[name]
            body = orjson.dumps(doc)
            if args.out == "-":
                sys.stdout.buffer.write(body + b"\n")
            else:
                target = Path(args.out or f"session-{sid}.json")
                target.write_bytes(body)
                written.append(str(target))
        else:
            if args.out == "-":
                if len(tables) != 1 or args.format != "csv":
                    print("ivmon export: --out - needs one table (--what) as CSV or JSON", file=sys.stderr)
                    return 2
                name, frame = next(iter(tables.items()))
                sys.stdout.buffer.write(exports.encode(frame, "csv", session_id=sid, name=name))
            else:
                base = Path(args.out or f"session-{sid}.{args.format}")
                for name, frame in tables.items():
                    target = base if len(tables) == 1 else base.with_name(f"{base.stem}.{name}{base.suffix}")
                    target.write_bytes(exports.encode(frame, args.format, session_id=sid, name=name))
                    written.append(str(target))
    audit_store.write_audit(engine, "cli", "export_cli", f"session:{sid}", {"format": args.format, "what": args.what})
    for path in written:
        print(path)
    return 0


def _alarm_report(engine: Engine, settings: Settings, args: argparse.Namespace) -> int:
    """``ivmon export alarms --from --to --format pdf|csv [--out FILE|-]``: the monthly alarm report."""
    from dashboard.alarm_report import gather, render_report_pdf, report_csv, report_period
    from monitor.clock import REAL_CLOCK
    from monitor.store import audit as audit_store

    if args.format not in ("pdf", "csv"):
        print("ivmon export alarms: --format pdf or csv", file=sys.stderr)
        return 2
    now = REAL_CLOCK.now()
    try:
        start, end = report_period(args.from_, args.to, now)
    except ValueError as exc:
        print(f"ivmon export alarms: --from/--to: {exc}", file=sys.stderr)
        return 2
    report = gather(engine, settings, start, end, now)
    body = render_report_pdf(report, settings) if args.format == "pdf" else report_csv(report)
    if args.out == "-":
        sys.stdout.buffer.write(body)
    else:
        target = Path(args.out or f"alarm-report.{args.format}")
        target.write_bytes(body)
        print(target)
    audit_store.write_audit(
        engine, "cli", "alarm_report", "alarms", {"format": args.format, "start": start, "end": end}
    )
    return 0
