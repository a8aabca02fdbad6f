"""Departments and users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from sqlalchemy import select

from cityhub.access import passwords, policy, tokens
from cityhub.access.deps import PrincipalDep, SessionDep, SettingsDep
from cityhub.access.schemas import LoginSessionOut, session_out
from cityhub.audit.hooks import bind_principal, record
from cityhub.events.schemas import AreaRef, DepartmentRef
from cityhub.geo import service as geo
from cityhub.kit.errors import NotFound
from cityhub.kit.text import Input
from cityhub.kit.timeutil import clock
from cityhub.models.org import Department, DepartmentKind, Role, User
from cityhub.org import service

router = APIRouter(tags=["organisation"])


class DepartmentIn(Input):
    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=100)
    kind: DepartmentKind
    area_id: int | None = None
    parent_id: int | None = None


class DepartmentOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    area_id: int | None
    parent_id: int | None
    active: bool


class UserIn(Input):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=60, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=passwords.MIN_LENGTH, max_length=200)
    role: Role
    display_name: str | None = Field(None, max_length=100)
    department_id: int | None = None
    area_id: int | None = None

    @field_validator("display_name")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class UserPatch(Input):
    """What an administrator changes about a user; a field left out stays as it is, ``null`` for a department
    or an area removes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str | None = Field(None, min_length=1, max_length=100)
    role: Role | None = None
    department_id: int | None = Field(None, ge=1, le=2**63 - 1)
    area_id: int | None = Field(None, ge=1, le=2**63 - 1)
    active: StrictBool | None = Field(
        None, description="false: the user cannot log in; their sessions end now"
    )
    unlock: StrictBool = Field(
        False, description="true: lift the lock that too many wrong passwords put on the login"
    )


class PasswordIn(Input):
    password: str = Field(min_length=passwords.MIN_LENGTH, max_length=200)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    department_id: int | None
    area_id: int | None
    department: DepartmentRef | None = None
    area: AreaRef | None = None
    active: bool
    locked_until: datetime | None = Field(None, description="login refused until then after wrong passwords")
    last_login_at: datetime | None = Field(None, description="their latest login with a password")
    last_login_address: str | None = Field(None, description="the client address that login came from")


def _user_out(session: SessionDep, user: User) -> UserOut:
    """A user with their department's and area's names (from memory, as events show them)."""
    dept = service.departments(session).get(user.department_id) if user.department_id else None
    area = geo.area_rows(session).get(user.area_id) if user.area_id else None
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        department_id=user.department_id,
        area_id=user.area_id,
        department=DepartmentRef(id=dept.id, code=dept.code, name=dept.name) if dept else None,
        area=AreaRef(id=area.id, code=area.code, name=area.name) if area else None,
        active=user.active,
        locked_until=user.locked_until if user.locked_until and user.locked_until > clock.now() else None,
        last_login_at=user.last_login_at,
        last_login_address=user.last_login_address,
    )


@router.get("/departments", response_model=list[DepartmentOut])
def list_departments(_principal: PrincipalDep, session: SessionDep) -> list[DepartmentOut]:
    """Every department, for choosing a dispatch target."""
    rows = session.scalars(select(Department).order_by(Department.code))
    return [DepartmentOut.model_validate(d, from_attributes=True) for d in rows]


@router.post("/departments", response_model=DepartmentOut, status_code=status.HTTP_201_CREATED)
def create_department(body: DepartmentIn, principal: PrincipalDep, session: SessionDep) -> DepartmentOut:
    """Add a department (委办局, district bureau, street office, utility company)."""
    policy.authorize(principal, "departments.manage")
    bind_principal(session, principal)
    department = service.create_department(session, **body.model_dump())
    return DepartmentOut.model_validate(department, from_attributes=True)


@router.get("/users", response_model=list[UserOut])
def list_users(principal: PrincipalDep, session: SessionDep) -> list[UserOut]:
    """Every user (administrators only)."""
    policy.authorize(principal, "users.manage")
    return [_user_out(session, u) for u in session.scalars(select(User).order_by(User.id))]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, principal: PrincipalDep, session: SessionDep) -> UserOut:
    """Add a user with a role, a department and an area of responsibility."""
    policy.authorize(principal, "users.manage")
    bind_principal(session, principal)
    user = service.create_user(session, **body.model_dump())
    return _user_out(session, user)


UserId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the user's id")]


def _user(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: UserId, body: UserPatch, principal: PrincipalDep, session: SessionDep) -> UserOut:
    """Change a user's name, role, department or area, or disable them (someone who left): a disabled user's
    sessions end at once. The hub keeps at least one active administrator."""
    policy.authorize(principal, "users.manage")
    bind_principal(session, principal)
    sent = body.model_fields_set
    user = service.update_user(
        session,
        principal,
        _user(session, user_id),
        display_name=body.display_name,
        role=body.role,
        department_id=body.department_id,
        area_id=body.area_id,
        active=body.active,
        unlock=body.unlock,
        clear=frozenset(f for f in ("department_id", "area_id") if f in sent and getattr(body, f) is None),
    )
    return _user_out(session, user)


@router.post("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT)
def reset_password(user_id: UserId, body: PasswordIn, principal: PrincipalDep, session: SessionDep) -> None:
    """Give a user a new password (they forgot theirs); every session of theirs ends."""
    policy.authorize(principal, "users.manage")
    bind_principal(session, principal)
    user = _user(session, user_id)
    service.set_password(session, user, body.password)


class SessionsEndedOut(BaseModel):
    ended: int = Field(description="how many open login sessions ended now")


_SESSION_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "only administrators see and end other users' sessions"},
    404: {"description": "no such user (or no such session of theirs)"},
}


@router.get("/users/{user_id}/sessions", response_model=list[LoginSessionOut], responses=_SESSION_REFUSALS)
def list_user_sessions(
    user_id: UserId, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> list[LoginSessionOut]:
    """A user's open login sessions, the most recently used first: when each began and from which address,
    the address of its latest refresh, the browser or program (administrators). Someone's addresses are
    their personal information: each look is audited (``view_sessions``)."""
    policy.authorize(principal, "users.sessions")
    user = _user(session, user_id)
    rows = tokens.open_sessions(session, settings, user.id)
    record(session, principal, "view_sessions", "users", str(user.id), {"sessions": len(rows)})
    return [session_out(row, principal) for row in rows]


@router.delete("/users/{user_id}/sessions", response_model=SessionsEndedOut, responses=_SESSION_REFUSALS)
def end_user_sessions(user_id: UserId, principal: PrincipalDep, session: SessionDep) -> SessionsEndedOut:
    """End every login session of a user (a lost phone, a suspicious address): their access tokens stop
    working at once and a live stream of theirs within 15 s; they can log in again (disable them to stop
    that). Audited."""
    policy.authorize(principal, "users.sessions")
    return SessionsEndedOut(ended=service.end_sessions(session, principal, _user(session, user_id)))


@router.delete(
    "/users/{user_id}/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_SESSION_REFUSALS,
)
def end_user_session(
    user_id: UserId,
    session_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="one of the user's login sessions")],
    principal: PrincipalDep,
    session: SessionDep,
) -> None:
    """End one login session of a user (its tokens stop working at once). Audited."""
    policy.authorize(principal, "users.sessions")
    service.end_sessions(session, principal, _user(session, user_id), session_id)
