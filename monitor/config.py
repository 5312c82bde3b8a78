"""Settings: defaults that work with no file, a TOML file, then ``IVMON_*`` environment variables.

Precedence (highest first): environment (``IVMON_HTTP__PORT=9000``), the TOML
file given with ``--config``, the defaults below.
"""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    #: Origins allowed to open the WebSocket (besides the server's own).
    allowed_origins: list[str] = Field(default_factory=list)
    session_hours: float = 12.0
    #: A login unused this long ends (0: never). An open central view counts as use: a wall display
    #: stays signed in, a review page left open does not (docs/security.md).
    idle_timeout_min: float = 30.0
    #: Reverse proxies (addresses or networks) whose X-Forwarded-For / -Proto headers are believed;
    #: empty: none, the peer's own address is the client's (the login throttle and audit use it).
    trusted_proxies: list[str] = Field(default_factory=list)
    #: /docs, /redoc and /openapi.json: off (404) unless true, and then for logged-in staff only.
    api_docs: bool = False
    #: The login throttle (docs/security.md): the wait after the free failed attempts, doubling up to
    #: the longest (an account guessed from many addresses: up to the account's longest).
    login_first_delay_s: float = Field(default=15.0, gt=0, le=3600)
    login_max_delay_s: float = Field(default=300.0, gt=0, le=86_400)
    login_account_max_delay_s: float = Field(default=60.0, gt=0, le=86_400)


class Hl7Binding(BaseModel):
    """Binds an HL7 sender to a bed: by device id (MSH-3 or OBX-18) or by PV1-3 point of care."""

    bed: str
    device: str | None = None
    location: str | None = None


class Hl7TlsSettings(BaseModel):
    """MLLP over TLS (IHE ATNA secure node): the server's certificate and, to verify senders, their CA."""

    #: PEM certificate (chain) and private key of this server; both set: the HL7 port speaks only TLS.
    cert: Path | None = None
    key: Path | None = None
    #: PEM bundle of the CA(s) that sign the monitors' certificates: set, a sender must present one.
    client_ca: Path | None = None


class Hl7Settings(BaseModel):
    enabled: bool = True
    #: Loopback by default: off this machine, ``allow`` or TLS client certificates are required.
    host: str = "127.0.0.1"
    port: int = 2575
    #: Client addresses (IPs or CIDR networks) allowed to connect; empty = any (loopback host only).
    allow: list[str] = Field(default_factory=list)
    tls: Hl7TlsSettings = Field(default_factory=Hl7TlsSettings)
    #: Distinct unassigned (unbound) devices taken from one sender address, and from all: beyond,
    #: messages get AR and one technical alarm names the sender (a message cannot flood the screens).
    max_unassigned_per_address: int = 64
    max_unassigned_total: int = 512
    max_message_bytes: int = 1_048_576
    idle_timeout_s: float = 600.0
    max_connections_per_address: int = 32
    bindings: list[Hl7Binding] = Field(default_factory=list)
    #: Local observation codes -> vital key, e.g. {"99COMEN:2" = "hr"}, or "-" for a code known not
    #: to be a vital. Re-read from the configuration file while running (adapters/hl7/reload.py).
    local_codes: dict[str, str] = Field(default_factory=dict)
    #: MSH-11 processing ids taken in: "P" (production) only by default. Adding "T" (training, a
    #: central station in demo mode) or "D" (debugging) accepts them, stored and shown as TRAINING
    #: DATA, never bound to a chair nor judged; any other id is refused with AR.
    processing_ids: list[str] = Field(default_factory=lambda: ["P"])
    raw_log_messages: int = 200
    #: IANA zone of timestamps sent without an offset (devices' local time); empty = the server's zone.
    timezone: str = ""
    #: A reading stamped after its arrival is stored at its arrival time and flagged (ACK warning,
    #: counted); one stamped further ahead than this is refused (that device's clock is wrong).
    max_clock_ahead_s: float = 300.0

    @field_validator("processing_ids")
    @classmethod
    def _known_processing_ids(cls, ids: list[str]) -> list[str]:
        clean = [i.strip().upper() for i in ids]
        unknown = [i for i in clean if i not in ("P", "T", "D")]
        if unknown:
            raise ValueError(f"hl7.processing_ids: {unknown} not among P, T, D (HL7 table 0103)")
        return clean


class SerialPort(BaseModel):
    port: str
    protocol: str
    bed: str
    baudrate: int | None = None
    bytesize: int | None = None
    parity: str | None = None
    stopbits: float | None = None
    #: Protocol-specific options (e.g. the text-lines preset and columns).
    options: dict[str, Any] = Field(default_factory=dict)


class DeviceSettings(BaseModel):
    """Portable monitors associated from the screen."""

    #: How far back a nurse may claim a monitor's readings for a session when associating it late.
    claim_window_s: float = Field(default=900.0, ge=0, le=3600)


class AlarmSettings(BaseModel):
    #: A rule file replacing the shipped clinic defaults.
    rules_file: Path | None = None
    silence_s: float = 120.0
    escalate_high_s: float = 60.0
    escalate_medium_s: float = 180.0
    nibp_cycle_infusion_s: float = 600.0
    nibp_cycle_recovery_s: float = 900.0


class EhrHl7Settings(BaseModel):
    """An HL7 v2 interface engine taking ORU^R01 over MLLP (empty url: not configured)."""

    url: str = ""  # mllp://host:port
    sending_application: str = "IVMON"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    #: PID-3.4: the namespace of the patient references (the clinic's MRN authority).
    assigning_authority: str = "IVMON"
    #: MSH-10 is this prefix and the outbox entry's number (unique per database).
    control_id_prefix: str = "IVM"
    ack_timeout_s: float = 30.0


class EhrFhirSettings(BaseModel):
    """A FHIR R4 server taking transaction Bundles (empty base_url: not configured)."""

    base_url: str = ""
    token: SecretStr = SecretStr("")
    patient_system: str = "urn:ivmon:patient"
    observation_system: str = "urn:ivmon:chart"
    user_system: str = "urn:ivmon:user"
    timeout_s: float = 30.0


class EhrSettings(BaseModel):
    """Charting: the draft chart's intervals and the EHR destinations (README, Charting)."""

    hl7: EhrHl7Settings = Field(default_factory=EhrHl7Settings)
    fhir: EhrFhirSettings = Field(default_factory=EhrFhirSettings)
    #: Charting interval per phase (a protocol may set its own), and the look-up window of a value.
    interval_baseline_s: float = Field(default=900.0, gt=0)
    interval_infusion_s: float = Field(default=300.0, gt=0)
    interval_recovery_s: float = Field(default=900.0, gt=0)
    window_s: float = Field(default=60.0, gt=0)
    #: Retry backoff of a destination that is down, and when that becomes a site-wide notice.
    retry_first_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    down_notice_s: float = Field(default=300.0, ge=0)


class ProtocolSettings(BaseModel):
    """Session protocols (monitor/protocols): the shipped templates, and a clinic's own over them."""

    #: A folder of ``<id>.toml`` templates: each replaces the shipped one of the same id or adds one.
    folder: Path | None = None


class ClinicSettings(BaseModel):
    """Who prints the records (the infusion record, the REMS form, the course) and in which time zone."""

    name: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=500)
    #: IANA zone the printed records use (and name); empty = the server's own zone.
    timezone: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        if name:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"clinic.timezone: unknown time zone {name!r} (an IANA name, e.g. Europe/Berlin)"
                ) from None
        return name

    def zone(self) -> tzinfo | None:
        """The clinic's zone; None: the server's local zone (``datetime.astimezone(None)``, right at every date)."""
        return ZoneInfo(self.timezone) if self.timezone else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IVMON_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("data")
    #: SQLAlchemy URL; default: SQLite in ``data_dir``.
    db_url: str | None = None
    http: HttpSettings = Field(default_factory=HttpSettings)
    hl7: Hl7Settings = Field(default_factory=Hl7Settings)
    serial: list[SerialPort] = Field(default_factory=list)
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    ehr: EhrSettings = Field(default_factory=EhrSettings)
    devices: DeviceSettings = Field(default_factory=DeviceSettings)
    protocols: ProtocolSettings = Field(default_factory=ProtocolSettings)
    clinic: ClinicSettings = Field(default_factory=ClinicSettings)
    #: Extra adapters by URL-like spec (``sim://?beds=3``).
    adapters: list[str] = Field(default_factory=list)
    #: Beds (chairs) of the clinic: id -> label. Empty: created as devices bind to them.
    beds: dict[str, str] = Field(default_factory=dict)
    #: Demo mode: demo users with password "demo", simulated patients.
    demo: bool = False
    #: Writer batching: flush at this many rows or after this many seconds.
    write_batch_rows: int = 5000
    write_batch_s: float = 0.02
    #: Database transactions in a writer process of their own (monitor/store/write_process.py):
    #: under load it doubles what one process ingests. Off: in a thread of the service's process.
    writer_process: bool = True

    _toml_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_config_file))
        return tuple(sources)

    @property
    def config_file(self) -> Path | None:
        """The TOML file these settings were read from (None: defaults and environment only)."""
        return self._toml_file

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'ivmon.db').resolve()}"


_config_file: Path | None = None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, ``config_file`` (TOML) and the environment; ``overrides`` win over all."""
    global _config_file
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"configuration file not found: {config_file}")
    _config_file = config_file
    try:
        settings = Settings(**overrides)
    finally:
        _config_file = None
    settings._toml_file = config_file
    return settings
