"""Why a write failed: the database (retry) or the data (isolate and refuse).

A transient failure (connection lost, lock, timeout, the writer process gone)
says nothing about the rows: the same batch is retried with backoff until it
commits. A data failure (a constraint, a value too long or out of range, text
the database cannot encode) will fail every retry of the same rows: the
writer splits the batch and refuses only the submission that holds the
offending rows, so one bad message can never stall everyone's storage.
"""

from __future__ import annotations

import sqlite3
from typing import Literal

from sqlalchemy import exc as sa_exc

FailureKind = Literal["data", "transient", "unknown"]

#: Driver errors that mean "these values cannot be stored": retrying the same rows cannot help.
_DATA_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.DataError,
    sa_exc.IntegrityError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
    # Raised by a driver adapting a Python value (NUL in text, an integer beyond 64 bits).
    UnicodeError,
    OverflowError,
)
#: Errors of the connection or the server's state: the same rows may well commit on a retry.
_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # no pooled connection in time
    sqlite3.OperationalError,  # "database is locked"
    sqlite3.InterfaceError,
    ConnectionError,
    TimeoutError,
    OSError,
)

try:  # PostgreSQL's driver: COPY runs on the driver's own connection, whose errors are not wrapped
    import psycopg

    _DATA_ERRORS += (psycopg.DataError, psycopg.IntegrityError)
    _TRANSIENT_ERRORS += (psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # pragma: no cover - SQLite-only installs
    pass


def classify(error: BaseException) -> FailureKind:
    """``data``: refuse the rows; ``transient``: retry them; ``unknown``: retry a few times, then refuse."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return "transient"
    if isinstance(error, _DATA_ERRORS):
        return "data"
    if isinstance(error, _TRANSIENT_ERRORS):
        return "transient"
    if isinstance(error, sa_exc.StatementError) and error.orig is not None:
        return classify(error.orig)
    if isinstance(error, ValueError):
        return "data"  # e.g. psycopg: "PostgreSQL text fields cannot contain NUL (0x00) bytes"
    return "unknown"


def describe(error: BaseException) -> str:
    """A short reason without row values: the error's class and the first line of its message.

    Drivers put the offending values in a DETAIL line (never the first); a data failure's
    reason goes back to the sender in its ACK and into the log, which must carry no patient data.
    """
    orig = error.orig if isinstance(error, sa_exc.StatementError) else None
    shown = orig if isinstance(orig, BaseException) else error
    first = str(shown).splitlines()[0][:200] if str(shown) else ""
    if first.startswith("("):  # SQLAlchemy's "(module.Class) message"
        first = first.split(") ", 1)[-1]
    return f"{type(shown).__name__}: {first}" if first else type(shown).__name__
