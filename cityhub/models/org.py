"""Departments, users and their credentials."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, UTCDateTime, str_enum

# A client address as the server saw it (IPv6 with a zone fits; anything longer is cut).
ADDRESS_LENGTH = 64


class Role(StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    HANDLER = "handler"
    GRID_WORKER = "grid_worker"
    SUPERVISOR = "supervisor"
    DATA_STEWARD = "data_steward"
    CITIZEN = "citizen"
    GATEWAY = "gateway"  # a machine client that only pushes telemetry (sensor gateway, IoT platform)
    MONITOR = "monitor"  # a machine client that only reads the hub's metrics (the city's Prometheus)

    @property
    def label(self) -> str:
        return {
            "admin": "系统管理员",
            "dispatcher": "指挥中心调度员",
            "handler": "部门处置人员",
            "grid_worker": "网格员",
            "supervisor": "督办人员",
            "data_steward": "数据管理员",
            "citizen": "公众",
            "gateway": "感知网关",
            "monitor": "运行监控",
        }[self.value]


class DepartmentKind(StrEnum):
    BUREAU = "bureau"  # 委办局
    DISTRICT_BUREAU = "district_bureau"  # 区级部门
    DISTRICT_GOVERNMENT = "district_government"  # 区政府
    STREET_OFFICE = "street_office"  # 街道办事处
    ENTERPRISE = "enterprise"  # 公共服务企业 (燃气、供水…)
    OPERATION_CENTRE = "operation_centre"  # 城市运行管理中心


class Department(Base):
    """A department and the area it serves (its jurisdiction)."""

    __tablename__ = "departments"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[DepartmentKind] = mapped_column(str_enum(DepartmentKind, 24))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(default=True)


class User(Base):
    """A person (or machine client) with one role, one department and one area of responsibility."""

    __tablename__ = "users"
    __audited__ = True
    __audit_masked__ = frozenset({"password_hash", "phone"})
    __audit_ignored__ = frozenset({"failed_logins", "last_login_at", "last_login_address"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role, 20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Wrong passwords in a row, and until when login is refused after too many (登录失败处理).
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest login with a password and the client address it came from (the audit log has them all).
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))


class LoginSession(Base):
    """One login (登录会话): its refresh tokens rotate within it and its access tokens name it (``sid``).
    Ending it — logging out, or a refresh token used twice — ends them all at once."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client: Mapped[str | None] = mapped_column(String(200))  # the User-Agent it logged in with
    address: Mapped[str | None] = mapped_column(
        String(ADDRESS_LENGTH)
    )  # the client address it logged in from
    last_address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))  # that of its latest refresh
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(40))


class LoginFailure(Base):
    """A failed login (wrong or unknown user name or password) from a client address, kept for the per-address
    limit (decision 0021): counted in the database, so every API process sees the same count and a restart
    does not reset it. Rows older than the window count no more and are pruned hourly."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_address_at", "address", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The address as the limit counts it: an IPv4 address, or an IPv6 address's /64 network.
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # None only for tokens issued before sessions existed (migration 0011); exchanging one starts a session.
    session_id: Mapped[int | None] = mapped_column(ForeignKey("login_sessions.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # exchanged for the next one (rotation)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its session ended


class ApiToken(Base):
    """A long-lived token for a machine client (12345 system, department system, sensor gateway)."""

    __tablename__ = "api_tokens"
    __audited__ = True
    __audit_masked__ = frozenset({"token_hash"})
    __audit_ignored__ = frozenset({"last_used_at"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
