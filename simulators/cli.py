"""``ivmon simulate``: simulated patients written as CSV or sent over a real wire protocol.

The ``ivmon`` command line adds these arguments to its ``simulate`` sub-command
and calls :func:`simulate_command`; ``python -m simulators.cli`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from simulators.live import LivePatient, run_live
from simulators.physiology import SessionTrace, simulate_session
from simulators.scenarios import SCENARIOS
from simulators.targets import TARGETS, Target

#: Where each ``--to`` scheme's target lives; imported on demand so a missing one only matters when asked for.
TARGET_MODULES: dict[str, str] = {
    "csv": "simulators.emit.csv",
    "mllp": "simulators.emit.mllp_target",
    "serial": "simulators.emit.serial_target",
}


@runtime_checkable
class BulkTarget(Protocol):
    """A target that takes whole sessions at once, as fast as it can (CSV)."""

    def write_sessions(self, traces: Iterable[SessionTrace]) -> int: ...


class TargetUnavailable(Exception):
    pass


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", nargs="?", help="scenario name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--to",
        default="csv:-",
        metavar="TARGET",
        help="csv:FILE (csv:- = standard output; the default), mllp://HOST:PORT or serial:DEVICE",
    )
    parser.add_argument("--protocol", help="serial protocol name (with --to serial:DEVICE)")
    parser.add_argument("--patients", type=_positive_int, default=1, help="number of patients (default 1)")
    parser.add_argument("--speed", type=_positive_float, default=1.0, help="time factor for live targets (default 1)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default 0): same seed, same patients")
    parser.add_argument(
        "--stagger",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="simulated seconds between the patients' session starts for live targets (default 60)",
    )


def load_target(to: str, args: argparse.Namespace) -> Target:
    scheme = to.split(":", 1)[0].lower()
    module = TARGET_MODULES.get(scheme)
    if module is None:
        raise ValueError(f"unknown target {to!r}: use csv:FILE, mllp://HOST:PORT or serial:DEVICE")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise TargetUnavailable(f"target not available: {scheme} ({module} is not installed)") from None
    factory = TARGETS.get(scheme)
    if factory is None:
        raise TargetUnavailable(f"target not available: {scheme} ({module} registers no target)")
    return factory(to, args)


def sessions(scenario: str, seed: int, patients: int) -> Iterator[SessionTrace]:
    """Patients 0 .. patients-1 of ``scenario`` under ``seed``, rendered one at a time."""
    for patient in range(patients):
        yield simulate_session(scenario, seed, patient)


def simulate_command(args: argparse.Namespace) -> int:
    """Run ``ivmon simulate``; returns the process exit status."""
    if args.list:
        width = max(len(name) for name in SCENARIOS)
        for name, scenario in SCENARIOS.items():
            print(f"{name:<{width}}  {scenario.description}")
        return 0
    if not args.scenario:
        print("ivmon simulate: a scenario is required (see --list)", file=sys.stderr)
        return 2
    if args.scenario not in SCENARIOS:
        print(f"ivmon simulate: unknown scenario {args.scenario!r}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    if args.to.lower().startswith("serial:") and not args.protocol:
        print("ivmon simulate: --to serial:DEVICE needs --protocol NAME", file=sys.stderr)
        return 2
    try:
        target = load_target(args.to, args)
    except (TargetUnavailable, ValueError) as exc:
        print(f"ivmon simulate: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1

    began = time.perf_counter()
    try:
        if isinstance(target, BulkTarget):
            rows = target.write_sessions(sessions(args.scenario, args.seed, args.patients))
            what = f"{rows} rows"
        else:
            patients = [LivePatient(args.scenario, args.seed, p) for p in range(args.patients)]
            sent = asyncio.run(_live(patients, target, args.speed, args.stagger))
            what = f"{sent} patient-seconds"
    except OSError as exc:
        print(f"ivmon simulate: {args.to}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    elapsed = time.perf_counter() - began
    print(
        f"ivmon simulate: {args.patients} {args.scenario} patient(s), seed {args.seed}: {what} to {args.to} "
        f"in {elapsed:.2f} s (synthetic data)",
        file=sys.stderr,
    )
    return 0


async def _live(patients: Sequence[LivePatient], target: Target, speed: float, stagger_s: float) -> int:
    await target.open()
    try:
        return await run_live(patients, target, speed=speed, stagger_s=stagger_s)
    finally:
        await target.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivmon simulate", description=__doc__.splitlines()[0] if __doc__ else None)
    add_simulate_arguments(parser)
    return simulate_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
