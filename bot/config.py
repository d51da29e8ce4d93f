"""Settings from the environment and `.env`; a bad value stops start-up with one clear line."""

from __future__ import annotations

import ipaddress
import re
import secrets
from datetime import time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.alerts import AlertRules
from core.channel import Platform
from core.checkpoints import VisitRules
from core.geo import Check, LocationRules, parse_areas
from core.retention import RetentionRules
from core.schedule import Schedule, parse_deadlines
from core.tokens import Keyring

_TELEGRAM_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
_ZALO_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{8,}")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")


class Settings(BaseSettings):
    """Every configuration key; see `.env.example` for what each one means."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    mongodb_uri: SecretStr | None = None
    mongodb_db: str = Field("khaibao", pattern=r"^[A-Za-z0-9_-]{1,60}$")
    data_dir: Path = Path("data")
    areas_file: Path | None = None

    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str | None = None
    zalo_bot_token: SecretStr | None = None
    zalo_api_base: str = "https://bot-api.zaloplatforms.com"

    bot_mode: Literal["polling", "webhook"] = "polling"
    webhook_base_url: str | None = None
    webhook_secret: SecretStr | None = None
    public_base_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    sandbox_port: int = Field(8090, ge=0, le=65535)

    timezone: str = "Asia/Ho_Chi_Minh"
    secret_key: SecretStr | None = None
    retired_secret_keys: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    updates_in_flight: int = Field(16, ge=1, le=256)
    update_lease_seconds: int = Field(60, ge=2, le=3600)

    slot_deadlines: str = "08:00,13:00,19:00"
    window_opens_minutes: int = Field(120, ge=10, le=600)
    reminder_before_minutes: int = Field(30, ge=5, le=300)
    quarantine_days: int = Field(14, ge=1, le=60)
    invite_ttl_hours: int = Field(72, ge=1, le=720)
    telegram_rate_limit: float = Field(30.0, gt=0, le=1000)  # the FAQ: about 30/s for bulk sends
    zalo_rate_limit: float = Field(10.0, gt=0, le=1000)
    selfie_max_mb: float = Field(10.0, gt=0, le=20)
    face_mismatch_threshold: float = Field(0.6, gt=0, lt=2)
    location_check: Check = Check.ASK
    location_check_areas: str = ""
    location_radius_m: float = Field(100.0, ge=10, le=5000)
    visit_max_hours: float = Field(12.0, gt=0, le=48)
    bus_trip_max_hours: float = Field(3.0, gt=0, le=24)
    report_escalate_hours: float = Field(4.0, gt=0, le=168)
    cap_sender: str = Field("khaibao@tanchau.tayninh.gov.vn", pattern=r"^[^\s,<&]+$")
    alert_sender_name: str = ""
    alert_two_person: bool = False
    cap_inbox_token: SecretStr | None = None
    cap_auto_send_senders: str = ""
    # The audit trail's HMAC key: kept apart from the database, so a rewrite of it shows.
    audit_key: SecretStr | None = None
    audit_ask_purpose: bool = False
    audit_show_names: bool = False  # residents see staff names in «Ai đã xem thông tin của tôi?»
    daily_report_at: time = time(20, 0)
    retention_selfies_days: int = Field(30, ge=1, le=3650)  # after the case ends
    retention_declarations_days: int = Field(90, ge=1, le=3650)  # after the case ends
    retention_visits_days: int = Field(30, ge=1, le=3650)
    retention_report_photos_days: int = Field(90, ge=1, le=3650)
    retention_audit_days: int = Field(730, ge=30, le=36500)

    @field_validator("telegram_bot_token")
    @classmethod
    def _telegram_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value and not _TELEGRAM_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("expected <digits>:<secret> as given by BotFather")
        return value

    @field_validator("zalo_bot_token")
    @classmethod
    def _zalo_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value and not _ZALO_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("expected <bot_id>:<secret> as given by Zalo Bot Creator")
        return value

    @field_validator("webhook_secret", "cap_inbox_token")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("use 16-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("slot_deadlines")
    @classmethod
    def _deadlines(cls, value: str) -> str:
        parse_deadlines(value)
        return value

    @field_validator("location_check_areas")
    @classmethod
    def _location_areas(cls, value: str) -> str:
        parse_areas(value)
        return value

    @field_validator("secret_key", "retired_secret_keys", "audit_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value and any(len(key) < 32 for key in _keys(value)):
            raise ValueError("use at least 32 random characters (keys separated by commas)")
        return value

    @field_validator("telegram_api_base", "zalo_api_base", "webhook_base_url", "public_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("expected an http(s):// URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.bot_mode == "webhook" and not (self.webhook_base_url and self.webhook_secret):
            raise ValueError("BOT_MODE=webhook needs WEBHOOK_BASE_URL and WEBHOOK_SECRET")
        if not self.sandbox and self.secret_key is None:
            raise ValueError("SECRET_KEY is required with a platform token (it signs invites)")
        if not self.sandbox and self.audit_key is None:
            raise ValueError("AUDIT_KEY is required with a platform token (it seals the audit)")
        # Zalo fetches every image we send from this address, over the internet.
        zalo_online = self.zalo_bot_token is not None and not self.zalo_is_local
        if zalo_online and not self.base_url.startswith("https://"):
            raise ValueError("PUBLIC_BASE_URL must be an https:// URL Zalo can reach")
        deadlines = parse_deadlines(self.slot_deadlines)
        gaps = [24 * 60 - _minutes(deadlines[-1]) + _minutes(deadlines[0])] + [
            _minutes(later) - _minutes(earlier) for earlier, later in pairwise(deadlines)
        ]
        if self.window_opens_minutes >= min(gaps):
            raise ValueError("WINDOW_OPENS_MINUTES must be shorter than the gap between deadlines")
        if self.reminder_before_minutes >= self.window_opens_minutes:
            raise ValueError("REMINDER_BEFORE_MINUTES must be shorter than WINDOW_OPENS_MINUTES")
        return self

    @property
    def sandbox(self) -> bool:
        """No platform token configured: run against the local emulators."""
        return self.telegram_bot_token is None and self.zalo_bot_token is None

    @property
    def webhook_secret_value(self) -> str:
        """The webhook secret (set whenever BOT_MODE=webhook)."""
        return self.webhook_secret.get_secret_value() if self.webhook_secret else ""

    @property
    def zalo_is_local(self) -> bool:
        """The Zalo API is an emulator on this machine (sandbox, tests): its images are too."""
        return _is_loopback(self.zalo_api_base)

    @property
    def rate_limits(self) -> dict[Platform, float]:
        """Proactive messages per second, per platform."""
        return {Platform.TELEGRAM: self.telegram_rate_limit, Platform.ZALO: self.zalo_rate_limit}

    @property
    def tz(self) -> ZoneInfo:
        """The local time zone for slots and display."""
        return ZoneInfo(self.timezone)

    @property
    def schedule(self) -> Schedule:
        """The daily declaration windows."""
        return Schedule(
            parse_deadlines(self.slot_deadlines),
            timedelta(minutes=self.window_opens_minutes),
            self.tz,
        )

    @property
    def location_rules(self) -> LocationRules:
        """Whether and how residents confirm where they are, per commune."""
        return LocationRules(
            self.location_check, parse_areas(self.location_check_areas), self.location_radius_m
        )

    @property
    def visit_rules(self) -> VisitRules:
        """When open visits close by themselves (VISIT_MAX_HOURS, BUS_TRIP_MAX_HOURS)."""
        return VisitRules(
            longest=timedelta(hours=self.visit_max_hours),
            bus_trip=timedelta(hours=self.bus_trip_max_hours),
        )

    @property
    def retention_rules(self) -> RetentionRules:
        """How many days each data class is kept (RETENTION_*_DAYS)."""
        return RetentionRules(
            selfies=self.retention_selfies_days,
            declarations=self.retention_declarations_days,
            visits=self.retention_visits_days,
            report_photos=self.retention_report_photos_days,
            audit=self.retention_audit_days,
        )

    @property
    def alert_rules(self) -> AlertRules:
        """Our CAP sender, two-person sending, trusted CAP senders, the send rates."""
        return AlertRules(
            sender=self.cap_sender,
            sender_name=self.alert_sender_name,
            two_person=self.alert_two_person,
            auto_senders=frozenset(
                sender.strip() for sender in self.cap_auto_send_senders.split(",") if sender.strip()
            ),
            rates=self.rate_limits,
        )

    def keyring(self) -> Keyring:
        """SECRET_KEY signs, RETIRED_SECRET_KEYS still verify; the sandbox keeps a random key."""
        retired = tuple(key.encode() for key in _keys(self.retired_secret_keys))
        if self.secret_key:
            return Keyring(self.secret_key.get_secret_value().encode(), retired)
        return Keyring(self._local_secret("secret_key"), retired)

    def audit_hmac_key(self) -> bytes:
        """AUDIT_KEY; the sandbox keeps a random one beside its data."""
        if self.audit_key:
            return self.audit_key.get_secret_value().encode()
        return self._local_secret("audit_key")

    def _local_secret(self, name: str) -> bytes:
        """A random key kept in the data directory (sandbox and tests only)."""
        path = self.data_dir / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()

    @property
    def base_url(self) -> str:
        """Where platforms and users reach our web server (media, landing pages)."""
        return (
            self.public_base_url
            or self.webhook_base_url
            or (f"http://{self.http_host}:{self.http_port}")
        )


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _keys(value: SecretStr | None) -> list[str]:
    text = value.get_secret_value() if value else ""
    return [key.strip() for key in text.split(",") if key.strip()]


def _is_loopback(url: str) -> bool:
    """Whether a URL points at this machine (the sandbox's or a test's emulator)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe_error(error: ValidationError) -> str:
    """One line naming the first bad variable and why."""
    first = error.errors()[0]
    name = "_".join(str(part) for part in first["loc"]).upper() or "configuration"
    return f"Invalid configuration: {name}: {first['msg'].removeprefix('Value error, ')}"
