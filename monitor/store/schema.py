"""The tables. Times are POSIX seconds (UTC) in double-precision columns.

Why floats and not timestamp columns: the same fast, exact arithmetic on
SQLite and PostgreSQL, no time-zone conversion on the write path, and
vectorised reads straight into numpy; the API and exports render ISO 8601.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits for readings.
BigId = BigInteger().with_variant(Integer(), "sqlite")

beds = Table(
    "beds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("label", String(128), nullable=False),
    Column("created", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bed_id", String(64), nullable=False, index=True),
    Column("patient_ref", String(64), nullable=False, index=True),
    Column("phase", String(16), nullable=False),
    Column("started", Float, nullable=False, index=True),
    Column("ended", Float),
    Column("weight_kg", Float),
    Column("dose_mg", Float),
    Column("rate_mg_per_h", Float),
    Column("created_by", String(64), nullable=False),
    Column("end_reason", Text),
    # The protocol template's id (monitor/protocols) and the dose per kg it was started with.
    Column("protocol", String(64)),
    Column("dose_mg_per_kg", Float),
    # Discharge: the escort and, when the criteria were not met, why and who decided.
    Column("discharge_reason", Text),
    Column("discharge_decided_by", String(120)),
    Column("escort_name", String(120)),
    Column("escort_relation", String(120)),
    # When the discharge criteria were first seen met (the REMS form's "ready to leave").
    Column("ready_at", Float),
)

phase_changes = Table(
    "phase_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False, index=True),
    Column("phase", String(16), nullable=False),
    Column("ts", Float, nullable=False),
    Column("user", String(64), nullable=False),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("user", String(64), nullable=False),
    Column("kind", String(16), nullable=False, default="note"),  # note | event | adverse
    Column("text", Text, nullable=False),
    #: An adverse event's category (monitor/scales.py ADVERSE_CATEGORIES); None for other notes.
    Column("category", String(32)),
)

readings = Table(
    "readings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("vital", String(8), nullable=False),
    Column("value", Float, nullable=False),
    Column("unit", String(8), nullable=False),
    Column("quality", String(12), nullable=False),
    Column("source", String(128), nullable=False),
    Column("bed_id", String(64)),
    Column("session_id", Integer),
    Index("ix_readings_session_ts", "session_id", "ts"),
    Index("ix_readings_bed_ts", "bed_id", "ts"),
    Index("ix_readings_ts", "ts"),
)

device_events = Table(
    "device_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False, index=True),
    Column("source", String(128), nullable=False),
    Column("state", String(24), nullable=False),
    Column("bed_id", String(64)),
    Column("session_id", Integer),
    Column("vital", String(8)),
    Column("detail", Text, nullable=False, default=""),
)

alarms = Table(
    "alarms",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("rule_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("bed_id", String(64), index=True),
    Column("session_id", Integer, index=True),
    Column("vital", String(8)),
    Column("state", String(16), nullable=False, index=True),
    Column("started", Float, nullable=False, index=True),
    Column("ended", Float),
    Column("value", Float),
    Column("worst", Float),
    Column("limit_value", Float),
    Column("acknowledged_by", String(64)),
    Column("acknowledged_at", Float),
    Column("silenced_until", Float),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("doubtful", Boolean, nullable=False, default=False, server_default=false()),
    Column("filed", String(40)),
    #: The one-tap answer given with (or right after) the acknowledgement; NULL: not answered.
    Column("actionable", Boolean),
    #: The clinic rule set (``rule_sets.version``) in force when the alarm was raised; NULL for older rows.
    Column("rule_set_version", Integer),
)

alarm_events = Table(
    "alarm_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alarm_id", String(40), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("transition", String(24), nullable=False),
    Column("state", String(16), nullable=False),
    Column("user", String(64)),
    Column("value", Float),
)

#: Keys of ingested messages (HL7 MSH-7, sender, MSH-10): a retransmission is stored once.
ingest_keys = Table(
    "ingest_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("ts", Float, nullable=False, index=True),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("password_hash", String(255)),
    Column("role", String(16), nullable=False),
    Column("created", Float, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    #: Created by ``ivmon demo`` (password "demo"): such users never exist in a production database.
    Column("demo", Boolean, nullable=False, default=False, server_default=false()),
    UniqueConstraint("username"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    #: Last request of this login (written at most every few seconds): the idle timeout counts from it.
    Column("last_active", Float),
)

#: Login attempts per key (address, account, account at address), shared by every web process:
#: counted before the password is checked, so concurrent guesses cannot all pass the gate.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("blocked_until", Float, nullable=False, default=0.0),
    Column("updated", Float, nullable=False, index=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False, index=True),
    Column("user", String(64)),
    Column("action", String(48), nullable=False),
    Column("target", String(128)),
    Column("detail", Text, nullable=False, default="{}"),
)

#: Per-session rule overrides (TOML text), each change also audited.
rule_overrides = Table(
    "rule_overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, index=True),
    Column("rules", Text, nullable=False),
    Column("user", String(64), nullable=False),
    Column("ts", Float, nullable=False),
)

#: Every version of the clinic rule set (``alerts/rule_sets.py``): the TOML text as adopted, who and when.
#: The highest version is in force; ``origin`` says whether an admin adopted it or the configured file
#: (or the shipped defaults) seeded it at a start.
rule_sets = Table(
    "rule_sets",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("rules_toml", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("author", String(64), nullable=False),
    Column("created", Float, nullable=False, index=True),
    Column("note", Text, nullable=False, default="", server_default=""),
)

#: Published events by seq: the replay log for resuming screens. Alarms and sessions are kept;
#: on PostgreSQL (several processes) every event is logged and readings/heartbeats are pruned
#: after the resume window (``monitor.bus_pg``), so ``ts`` is indexed.
events = Table(
    "events",
    metadata,
    Column("seq", BigId, primary_key=True),
    Column("ts", Float, nullable=False, index=True),
    Column("type", String(16), nullable=False),
    Column("payload", Text, nullable=False),
)

#: User actions taken on a web process for the ingest process's alarm engine and sessions
#: (``monitor.commands``): the web inserts and NOTIFYs, the ingest executes and answers.
commands = Table(
    "commands",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("payload", Text, nullable=False),
    Column("user", String(64), nullable=False),
    Column("status", String(12), nullable=False, index=True),  # pending | running | done | error | expired
    Column("result", Text),
    Column("done_ts", Float),
)

#: Per-session review figures, computed when a session closes (or on first review): the
#: session list sorts and filters 10,000 sessions on these columns without reading readings.
#: ``figures`` holds the whole summary as JSON; ``version`` lets a newer summary recompute old rows.
session_summaries = Table(
    "session_summaries",
    metadata,
    Column("session_id", Integer, ForeignKey("sessions.id"), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("computed", Float, nullable=False),
    Column("duration_s", Float),
    Column("baseline_sbp", Float),
    Column("baseline_dbp", Float),
    Column("peak_sbp", Float),
    Column("peak_sbp_rise", Float),
    Column("peak_dbp_rise", Float),
    Column("min_spo2", Float),
    Column("spo2_below94_s", Float),
    Column("spo2_below90_s", Float),
    Column("alarms_high", Integer, nullable=False, default=0),
    Column("alarms_medium", Integer, nullable=False, default=0),
    Column("alarms_low", Integer, nullable=False, default=0),
    Column("alarms_technical", Integer, nullable=False, default=0),
    Column("time_to_ready_s", Float),
    Column("figures", Text, nullable=False),
)

#: The nurse's decision on a chart row (monitor/charting): absent = still a draft. ``values`` is what
#: is charted now (JSON: vital -> {value, ts, vital}), ``original`` what the monitor proposed at the
#: first decision (kept when a nurse edits), ``version`` counts decisions that file something.
chart_rows = Table(
    "chart_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False),
    Column("row_key", BigInteger, nullable=False),
    Column("ts", Float, nullable=False),
    Column("phase", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(12), nullable=False),  # accepted | edited | rejected
    Column("version", Integer, nullable=False),
    Column("values", Text, nullable=False),
    Column("original", Text, nullable=False),
    Column("reason", Text),
    Column("user", String(64), nullable=False),
    Column("decided_at", Float, nullable=False),
    UniqueConstraint("session_id", "row_key", name="uq_chart_rows_session_row"),
)

#: The transactional outbox: one entry per (row version, destination), written in the transaction
#: that accepts or edits the row; a sender per destination delivers entries in id order.
ehr_outbox = Table(
    "ehr_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("destination", String(16), nullable=False),
    Column("session_id", Integer, nullable=False),
    Column("row_key", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(8), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created", Float, nullable=False),
    Column("done_at", Float),
    Index("ix_ehr_outbox_destination_state_id", "destination", "state", "id"),
    Index("ix_ehr_outbox_session_row", "session_id", "row_key"),
)

#: The integrator's view of HL7 (adapters/hl7/observed.py): every observation code seen, per sender,
#: with its count, an example value and what ivmon made of it. Written every few seconds, not per message.
hl7_codes = Table(
    "hl7_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender", String(200), nullable=False),
    Column("obx3", String(200), nullable=False),
    Column("obx6", String(200), nullable=False),
    Column("code", String(200), nullable=False),
    Column("label", String(200), nullable=False),
    Column("code_system", String(200), nullable=False),
    Column("unit", String(200), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("example_value", String(64), nullable=False),
    Column("outcome", String(200), nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    UniqueConstraint("sender", "obx3", "obx6"),
    Index("ix_hl7_codes_last_seen", "last_seen"),
)

#: Monitors associated with chairs from the screen (monitor/binding.py): a start, an end, who did each.
#: The configuration's fixed bindings are not stored here (they come from the file at every start).
device_associations = Table(
    "device_associations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", String(128), nullable=False, index=True),
    Column("bed_id", String(64), nullable=False, index=True),
    Column("started", Float, nullable=False),
    Column("started_by", String(64), nullable=False),
    Column("ended", Float, index=True),
    Column("ended_by", String(64)),
)

#: Scale scores taken at the chair (monitor/scales.py): ``score`` is the total, ``items`` the item
#: scores as a JSON list for multi-item scales. ``ts`` is when it was assessed, ``recorded`` when entered.
assessments = Table(
    "assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("scale", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("items", Text),
    Column("user", String(64), nullable=False),
    Column("recorded", Float, nullable=False),
)

#: Drugs given during a session besides the ketamine infusion (ondansetron 4 mg IV, clonidine 0.1 mg PO).
medications = Table(
    "medications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("drug", String(128), nullable=False),
    Column("dose", Float, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("route", String(16), nullable=False),
    Column("user", String(64), nullable=False),
    Column("recorded", Float, nullable=False),
)

#: The ketamine dose actually given, entered by a nurse when it differs from what the infusion's
#: rate and time say (``computed_mg``, kept beside it); absent = the computed dose stands.
given_doses = Table(
    "given_doses",
    metadata,
    Column("session_id", Integer, ForeignKey("sessions.id"), primary_key=True),
    Column("dose_mg", Float, nullable=False),
    Column("computed_mg", Float),
    Column("reason", Text, nullable=False),
    Column("user", String(64), nullable=False),
    Column("ts", Float, nullable=False),
)

#: Identifiers printed on the infusion record where a clinic enters them (optional, never logged).
session_identities = Table(
    "session_identities",
    metadata,
    Column("session_id", Integer, ForeignKey("sessions.id"), primary_key=True),
    Column("name", String(200)),
    Column("birth_date", String(10)),
    Column("mrn", String(64)),
    Column("user", String(64), nullable=False),
    Column("ts", Float, nullable=False),
)

#: Follow-up outcome scores of a patient across a course (PHQ-9, GAD-7, MADRS), by date of assessment.
outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_ref", String(64), nullable=False, index=True),
    Column("scale", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("date", String(10), nullable=False),
    Column("user", String(64), nullable=False),
    Column("recorded", Float, nullable=False),
)
