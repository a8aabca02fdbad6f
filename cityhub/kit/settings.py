"""One settings object for the whole hub, read from ``CITYHUB_*`` environment variables."""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"
    DEMO = "demo"
    TEST = "test"


INSECURE_MODES = frozenset({Mode.DEVELOPMENT, Mode.DEMO, Mode.TEST})
ENV_PREFIX = "CITYHUB_"
NEW_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class SettingsError(ValueError):
    """The environment makes no valid settings. The message is one line naming each ``CITYHUB_*`` variable
    at fault and what to set it to: what a command prints instead of a traceback."""


class Settings(BaseSettings):
    """Hub configuration. Insecure defaults are refused in production mode."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    mode: Mode = Mode.PRODUCTION
    data_dir: Path = Path("data")
    database_url: str | None = None
    secret_key: str | None = None
    timezone: str = "Asia/Shanghai"
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    # Login failure handling (GB/T 22239 等保 2.0): this many wrong passwords in a row lock the account
    # for login_lock_minutes.
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lock_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # ...and from one client address (an IPv6 /64), more than login_address_max_failures failed logins
    # within login_address_window_minutes refuse its logins, whatever the user name (decision 0021).
    login_address_max_failures: int = Field(default=20, ge=1, le=10_000)
    login_address_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_body_bytes: int = 1_048_576
    # API requests inside the app at once (the rest wait up to admission_wait_s, then 503); keep it below
    # the database connection pool (cityhub.kit.db.POOL_CONNECTIONS) less what background jobs use. Four
    # keep a process's CPU busy; more only make the threads take turns on the GIL (decision 0010).
    max_concurrent_requests: int = Field(default=4, ge=1, le=64)
    admission_wait_s: float = Field(default=10.0, gt=0, le=120)
    calendar_file: Path | None = None
    scheduler_interval_s: float = 60.0
    near_deadline_fraction: float = 0.2
    review_threshold: float = 0.8
    # Sensing (issue 3): MQTT ingest runs in the hub process when mqtt_url is set (mqtt://127.0.0.1:1883).
    mqtt_url: str | None = None
    mqtt_topic: str = "cityhub/telemetry/#"
    mqtt_client_id: str = "cityhub-ingest"
    mqtt_inflight: int = 1000
    telemetry_max_future_s: float = 300.0
    telemetry_max_inflight: int = 20_000
    telemetry_raw_retention_days: int = 30
    telemetry_1m_retention_days: int = 400
    telemetry_dead_letter_retention_days: int = 30
    telemetry_rollup_interval_s: float = 30.0
    # Scale-out (decision 0011): the bus relayed through NATS JetStream (nats://127.0.0.1:4222), needed by
    # `cityhub serve --workers N`; unset, the bus stays in the process. The namespace prefixes its subjects,
    # stream and consumer, so several hubs can share one NATS server.
    bus_url: str | None = None
    bus_namespace: str = Field(default="cityhub", pattern=r"^[A-Za-z0-9_-]+$")

    @model_validator(mode="after")
    def _refuse_insecure_defaults(self) -> Settings:
        if self.secret_key is None:
            if self.mode not in INSECURE_MODES:
                raise ValueError(
                    "CITYHUB_SECRET_KEY must be set in production mode: set it to a random key of at least "
                    f"32 characters ({NEW_KEY}), or set CITYHUB_MODE=development (or run `cityhub demo`) "
                    "to try the hub"
                )
            # A fresh random key per process: tokens do not survive a restart, which is fine for a demo.
            self.secret_key = secrets.token_urlsafe(32)
        elif self.mode is Mode.PRODUCTION and len(self.secret_key) < 32:
            raise ValueError(
                f"CITYHUB_SECRET_KEY must be at least 32 characters long: set it to a random key ({NEW_KEY})"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'cityhub.db'}"

    @property
    def key(self) -> str:
        assert self.secret_key is not None  # set by the validator
        return self.secret_key


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (``overrides`` win); :class:`SettingsError` when they are not valid."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(explain(exc)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()


def explain(exc: ValidationError) -> str:
    """The settings' errors in one line, each naming its variable and what to set."""
    return "; ".join(_explain_one(error) for error in exc.errors(include_url=False))


def _explain_one(error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    if not error["loc"]:  # a rule over several settings (the secret key's): its message says it all
        return str(ctx.get("error", error["msg"]))
    field = str(error["loc"][0])
    name = ENV_PREFIX + field.upper()
    # The secret is not echoed back; other values are, shortened, so the reader sees what was read.
    given = "" if field == "secret_key" else f"={str(error.get('input'))[:40]!r}"
    if error["type"] == "enum":
        return f"{name}{given} is not valid: set it to one of {ctx.get('expected', '')}".rstrip()
    return f"{name}{given} is not valid ({error['msg']}): set a valid value or unset it"
