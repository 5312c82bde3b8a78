"""``ivmon whatif``: the same traces or stored sessions under the current and a proposed rule set.

Prints, per rule and phase, the columns of :mod:`alerts.whatif` (episodes now and proposed, the
difference, alarm-minutes, median episode length, episodes removed that nurses had acknowledged as
actionable, episodes added); ``--out`` writes that table as CSV and ``--episodes DIR`` both episode
lists (``now.csv``, ``proposed.csv``, led by the patient or session). The current rules are
``--baseline``, else with ``--db`` the rule-set version in force in that database, else the
configured rule file (``--config``), else the clinic defaults.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from alerts.cli import add_source_arguments, in_force_rules, load_cases, settings_of, write_keyed_episodes
from alerts.rules import Rule, RuleError, load_rules, rules_from_settings
from alerts.trace import TraceError
from alerts.whatif import COLUMNS, Comparison, Row, answers_of, compare
from monitor.inert import inert_cell
from monitor.store.replay_source import StoredAlarm


def add_whatif_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--rules", type=Path, required=True, metavar="PROPOSED.toml", help="the proposed rule file")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CURRENT.toml",
        help="the current rule file (default: the configured rule file, else the clinic defaults)",
    )
    parser.add_argument("--out", type=Path, metavar="FILE.csv", help="also write the comparison table as CSV")
    parser.add_argument("--episodes", type=Path, metavar="DIR", help="write now.csv and proposed.csv (episodes) here")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".1f")
    return inert_cell(str(value))


def _rows(comparison: Comparison) -> list[Row]:
    return [*comparison.rows, comparison.total]


def _csv_cell(value: object) -> str:
    """Numbers as numbers (a difference of -1 is not a formula); text made inert."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".10g")
    if isinstance(value, int):
        return str(value)
    return inert_cell(str(value))


def write_table_csv(comparison: Comparison, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in _rows(comparison):
        writer.writerow([_csv_cell(v) for v in row.as_dict().values()])


def print_table(comparison: Comparison, out: TextIO) -> None:
    """The table for a terminal: aligned columns, then what the proposal removes that mattered."""
    heads: tuple[str, ...] = ("rule", "phase", "now", "proposed", "diff", "min now", "min prop", "med s now")
    heads += ("med s prop", "removed", "actionable removed", "added")
    lines: list[tuple[str, ...]] = [heads]
    for row in _rows(comparison):
        d = row.as_dict()
        diff = d["difference"]
        actionable = str(d["removed_actionable"]) if comparison.answers_known else "n/a"
        lines.append(
            (
                str(d["rule_id"]),
                str(d["phase"]),
                str(d["episodes_now"]),
                str(d["episodes_proposed"]),
                f"{diff:+d}" if isinstance(diff, int) and diff else "0",
                _cell(d["alarm_minutes_now"]),
                _cell(d["alarm_minutes_proposed"]),
                _cell(d["median_s_now"]) or "-",
                _cell(d["median_s_proposed"]) or "-",
                str(d["removed"]),
                actionable,
                str(d["added"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(heads))]
    for line in lines:
        cells = [
            cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    out.write(
        f"{comparison.cases} case(s) replayed, {len(comparison.changed)} with changed alarms"
        + (
            f", {comparison.own_rules_cases} under their own session rules (unchanged)"
            if comparison.own_rules_cases
            else ""
        )
        + "\n"
    )
    if comparison.removed_actionable:
        out.write(
            f"WARNING: the proposal removes {comparison.removed_actionable} alarm(s) acknowledged as actionable\n"
        )
    elif not comparison.answers_known:
        out.write("No nurse answers (actionable or not) for these alarms: what the proposal removes is not judged.\n")


def _current_rules(args: argparse.Namespace) -> list[Rule]:
    if args.baseline:
        return load_rules(args.baseline)
    if args.db is not None:
        return in_force_rules(args)
    return rules_from_settings(settings_of(args).alarms.rules_file if args.config else None)


def whatif_command(args: argparse.Namespace) -> int:
    try:
        proposed = load_rules(args.rules)
        current = _current_rules(args)
        stored: list[StoredAlarm] = []
        cases, key_name = load_cases(args, stored)
    except (RuleError, TraceError, ValueError, SQLAlchemyError) as exc:
        print(f"ivmon whatif: {exc}", file=sys.stderr)
        return 2
    comparison = compare(cases, current, proposed, answers_of(stored), zero_is_missing=args.zero_is_missing)
    print_table(comparison, sys.stdout)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            write_table_csv(comparison, fh)
    if args.episodes:
        args.episodes.mkdir(parents=True, exist_ok=True)
        for name, items in (("now", comparison.now), ("proposed", comparison.proposed)):
            with open(args.episodes / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
                write_keyed_episodes(key_name or "patient", ((key, [ep], t0) for key, ep, t0 in items), fh)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m alerts.whatif_cli ...`` (the same as ``ivmon whatif``)."""
    parser = argparse.ArgumentParser(prog="ivmon whatif", description=__doc__.splitlines()[0] if __doc__ else None)
    add_whatif_arguments(parser)
    return whatif_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
