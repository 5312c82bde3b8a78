"""The ``ivmon`` command line: thin; each command hands over to the package that owns it."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from monitor.clock import REAL_CLOCK, Clock
from monitor.config import Settings, load_settings
from monitor.model import Role

log = logging.getLogger("ivmon")


def _setup_logging(verbose: bool = False, fmt: str = "text") -> None:
    from monitor.logs import setup_logging

    setup_logging(verbose=verbose, fmt=fmt)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    config = getattr(args, "config", None)
    db = getattr(args, "db", None)
    if db:
        overrides["db_url"] = db
    return load_settings(Path(config) if config else None, **overrides)


#: Seconds open HTTP requests and WebSockets get to finish when the service is asked to stop.
GRACEFUL_HTTP_S = 2

#: Allocations between collections of the youngest generation in a serving process (default 700).
GC_YOUNG_THRESHOLD = 50_000


def _serve_app(
    settings: Settings,
    build: object = None,
    *,
    banner: list[str] | None = None,
    role: str = "all",
    clock: Clock = REAL_CLOCK,
) -> int:
    import uvicorn

    from dashboard.app import create_app
    from dashboard.ops import ingest_app
    from monitor.roles import build_for_role

    started = time.perf_counter()
    service = build_for_role(settings, role, clock=clock)
    if callable(build):
        build(service)
    app = ingest_app(service) if role == "ingest" else create_app(service)
    config = uvicorn.Config(
        app,
        host=settings.http.host,
        port=settings.http.port,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
        # A stop (SIGINT/SIGTERM) must end within 10 s in every state: open screens and requests get
        # this long, the writer its own bound (monitor/service.py STOP_WRITER_S).
        timeout_graceful_shutdown=GRACEFUL_HTTP_S,
        # X-Forwarded-For is believed only from the configured reverse proxies (uvicorn's default
        # believes any process on this machine): the login throttle and the audit use the address.
        proxy_headers=bool(settings.http.trusted_proxies),
        forwarded_allow_ips=list(settings.http.trusted_proxies) or None,
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            url = f"http://{settings.http.host}:{settings.http.port}/"
            print(f"ivmon ready in {time.perf_counter() - started:.1f} s: {url}", flush=True)
            for line in banner or []:
                print(line, flush=True)
        await task

    # Start-up objects (modules, settings, rules) live for good: frozen, they leave the collector's full
    # scans, which otherwise stall the event loop for 100-500 ms at 1,000 beds (bench/fanout.py).
    gc.collect()
    gc.freeze()
    # An HL7 message leaves a few hundred short-lived containers behind; with the default threshold
    # (700) the collector ran every other message, ~15 % of the event loop's time at thousands of
    # messages a second (bench/hl7_ingest.py). They die by reference count; few cycles remain.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)
    _run_event_loop(run())
    if server.started:
        print(f"ivmon stopped cleanly; {service.writer.rows_written} readings stored in this run.", flush=True)
    return 0 if server.started else 1


def _run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where installed (it comes with uvicorn[standard]): the same asyncio semantics with a
    faster socket layer, which is most of the per-message cost of MLLP and WebSocket traffic."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


# -- commands ----------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import DEMO_PASSWORD, add_demo_patients, demo_beds, demo_clock, ensure_demo_users

    beds = demo_beds(args.beds)
    overrides: dict[str, object] = {"demo": True}
    settings = _settings(args, **overrides)
    if not args.db and not settings.db_url:
        settings.db_url = f"sqlite:///{(settings.data_dir / 'demo.db').resolve()}"
    settings.http.port = args.port
    settings.hl7.port = args.hl7_port
    if "hl7" not in settings.model_fields_set or "host" not in settings.hl7.model_fields_set:
        settings.hl7.host = "127.0.0.1"  # the demo listens on this machine only, unless configured
    settings.beds = {**beds, **settings.beds}

    def build(service: object) -> None:
        from monitor.service import Service

        assert isinstance(service, Service)
        ensure_demo_users(service)
        add_demo_patients(service, list(beds), seed=args.seed)

    if not args.speed > 0:
        print("ivmon demo: --speed must be > 0", file=sys.stderr)
        return 2
    clock = demo_clock(settings, args.speed)
    banner = [
        f"demo: {args.beds} simulated chairs at speed x{args.speed:g}; database {settings.database_url}",
        f"demo logins: nurse / clinician / admin, password '{DEMO_PASSWORD}'",
        f"HL7/MLLP listening on port {settings.hl7.port}" if settings.hl7.enabled else "HL7/MLLP disabled",
        "Ctrl-C stops.",
    ]
    return _serve_app(settings, build, banner=banner, clock=clock)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.port:
        settings.http.port = args.port
    if args.hl7_port:
        settings.hl7.port = args.hl7_port
    if args.host:
        settings.http.host = args.host
    from monitor.roles import RoleError, check_role

    try:
        check_role(settings, args.role)
    except RoleError as exc:
        print(f"ivmon: {exc}", file=sys.stderr)
        return 2
    return _serve_app(settings, refuse_demo_users, role=args.role, banner=[f"role: {args.role}"])


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from monitor.store import database

    settings = _settings(args)
    database.upgrade(database.make_engine(settings.database_url))
    print(f"database at the latest schema: {settings.database_url}")
    return 0


def _user_engine(args: argparse.Namespace) -> Any:
    from monitor.store import database

    settings = _settings(args)
    engine = database.make_engine(settings.database_url)
    database.upgrade(engine)
    return engine


def cmd_user_add(args: argparse.Namespace) -> int:
    from dashboard.auth import hash_password
    from monitor.store import audit as audit_store
    from monitor.store import auth

    engine = _user_engine(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("passwords differ", file=sys.stderr)
            return 2
    if len(password) < 8:
        print("a password needs at least 8 characters", file=sys.stderr)
        return 2
    existed = auth.save_user(engine, args.name, hash_password(password), args.role)
    audit_store.write_audit(engine, "cli", "user_add", f"user:{args.name}", {"role": args.role, "existed": existed})
    ended = "; their logins ended everywhere" if existed else ""
    print(f"user {args.name} ({args.role}) saved{ended}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from monitor.store import audit as audit_store
    from monitor.store import auth

    engine = _user_engine(args)
    if not auth.disable_user(engine, args.name):
        print(f"no user {args.name}", file=sys.stderr)
        return 2
    audit_store.write_audit(engine, "cli", "user_disable", f"user:{args.name}")
    print(f"user {args.name} disabled; their logins ended everywhere (`ivmon user add` enables them again)")
    return 0


def cmd_user_remove_demo(args: argparse.Namespace) -> int:
    from monitor.store import audit as audit_store
    from monitor.store import auth

    engine = _user_engine(args)
    names = auth.remove_demo_users(engine)
    if names:
        audit_store.write_audit(engine, "cli", "user_remove_demo", None, {"users": names})
    print(f"demo users removed: {', '.join(names)}" if names else "no demo users in this database")
    return 0


def refuse_demo_users(service: object) -> None:
    """``ivmon serve`` never runs with the demo's logins (password "demo") in its database."""
    from monitor.service import Service
    from monitor.store import auth

    assert isinstance(service, Service)
    names = auth.demo_user_names(service.engine)
    if names:
        raise ValueError(
            f"this database holds demo users ({', '.join(names)}, password 'demo'): ivmon serve will not start "
            "on it. Remove them with `ivmon user remove-demo` (with the same --config or --db), "
            "or give the demo a database of its own."
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivmon", description="Vital-signs monitoring for IV infusion sessions.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format", choices=["text", "json"], default=None, help="log lines as text (default) or JSON objects"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="server + simulated patients in one process (SQLite)")
    demo.add_argument("--beds", type=int, default=6, help="simulated chairs (default 6)")
    demo.add_argument("--port", type=int, default=8000, help="web port (default 8000)")
    demo.add_argument("--hl7-port", type=int, default=2575, help="HL7/MLLP port (default 2575)")
    demo.add_argument("--db", help="database URL (default: SQLite in ./data/demo.db)")
    demo.add_argument("--speed", type=float, default=1.0, help="simulated time runs this many times faster")
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulated patients")
    demo.add_argument("--config", help="TOML file whose adapters (serial ports, HL7 bindings) are added")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="the production service")
    serve.add_argument("--config", help="TOML configuration file")
    serve.add_argument("--db", help="database URL (overrides the configuration)")
    serve.add_argument("--host", help="web bind address")
    serve.add_argument("--port", type=int, help="web port")
    serve.add_argument("--hl7-port", type=int, help="HL7/MLLP port")
    serve.add_argument(
        "--role",
        choices=["all", "ingest", "web"],
        default="all",
        help="all (default): one process; on PostgreSQL, ingest (devices, alarm engine; one per site) "
        "and web (screens and API; any number) split the work",
    )
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate the schema to the latest version")
    upgrade.add_argument("--config")
    upgrade.add_argument("--db")
    upgrade.set_defaults(func=cmd_db_upgrade)

    user = sub.add_parser("user", help="user administration")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user, or reset a password or role (their logins end)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--config")
    add.add_argument("--db")
    add.set_defaults(func=cmd_user_add)
    disable = user_sub.add_parser("disable", help="end a user's logins everywhere and refuse new ones")
    disable.add_argument("name")
    disable.add_argument("--config")
    disable.add_argument("--db")
    disable.set_defaults(func=cmd_user_disable)
    remove_demo = user_sub.add_parser("remove-demo", help="delete the demo's users (nurse, clinician, admin)")
    remove_demo.add_argument("--config")
    remove_demo.add_argument("--db")
    remove_demo.set_defaults(func=cmd_user_remove_demo)

    from adapters.serial.cli import add_serial_arguments, serial_command

    serial_parser = sub.add_parser("serial", help="serial devices: the protocols ivmon speaks, this machine's ports")
    add_serial_arguments(serial_parser)
    serial_parser.set_defaults(func=serial_command)

    from adapters.hl7.cli import add_hl7_arguments, hl7_command

    hl7_parser = sub.add_parser("hl7", help="HL7 integration: the observation codes seen (`ivmon hl7 codes`)")
    add_hl7_arguments(hl7_parser)
    hl7_parser.set_defaults(func=hl7_command)

    from simulators.cli import add_simulate_arguments, simulate_command

    simulate = sub.add_parser("simulate", help="simulated patients as CSV or over a wire protocol")
    add_simulate_arguments(simulate)
    simulate.set_defaults(func=simulate_command)

    from alerts.cli import add_replay_arguments, replay_command

    replay = sub.add_parser("replay", help="a recorded trace through the alarm rules, offline; prints the episodes")
    add_replay_arguments(replay)
    replay.set_defaults(func=replay_command)

    from alerts.whatif_cli import add_whatif_arguments, whatif_command

    whatif = sub.add_parser(
        "whatif",
        help="traces or stored sessions under the current and a proposed rule set, compared per rule and phase",
    )
    add_whatif_arguments(whatif)
    whatif.set_defaults(func=whatif_command)

    from dashboard.review.cli import add_export_arguments, export_command

    export = sub.add_parser("export", help="a session's readings, alarms and events, or its printable report")
    add_export_arguments(export)
    export.set_defaults(func=export_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.log_format or os.environ.get("IVMON_LOG_FORMAT", "text"))
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError) as exc:
        # Configuration mistakes (unknown protocol, bad rule file, invalid setting): a clear line, no traceback.
        print(f"ivmon: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
