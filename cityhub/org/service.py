"""Departments and users: the organisation events are routed through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.access import passwords, tokens
from cityhub.access.passwords import hash_password
from cityhub.access.principal import Principal
from cityhub.audit.hooks import record
from cityhub.kit.cache import PerDatabase
from cityhub.kit.db import write_from_the_start
from cityhub.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.models.area import Area, AreaLevel
from cityhub.models.org import Department, DepartmentKind, Role, User


@dataclass(frozen=True)
class DepartmentRow:
    """What intake and the event views need of a department, kept in memory (see ``kit.cache``)."""

    id: int
    code: str
    name: str
    active: bool


def _departments(session: Session) -> dict[int, DepartmentRow]:
    rows = session.execute(select(Department.id, Department.code, Department.name, Department.active))
    return {r.id: DepartmentRow(r.id, r.code, r.name, r.active) for r in rows}


_departments_cache = PerDatabase(_departments)


def departments(session: Session) -> dict[int, DepartmentRow]:
    """Every department by id."""
    return _departments_cache.get(session)


class UserColumns(Protocol):
    """What a principal is made of: a ``User``, or a row of just these columns (every request reads one)."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def department_id(self) -> int | None: ...
    @property
    def area_id(self) -> int | None: ...


# Roles whose reach is an area (the policy scopes them by it): without one they may not act at all, rather
# than reach the whole city.
AREA_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.GRID_WORKER})


def principal_for(
    session: Session,
    user: UserColumns,
    area_level: AreaLevel | None = None,
    session_id: int | None = None,
    address: str | None = None,
) -> Principal:
    """The acting principal of ``user``; ``area_level`` when the caller has read it with the user,
    ``session_id`` when it acts through a login session's access token, ``address`` the client's."""
    if Role(user.role) in AREA_ROLES and user.area_id is None:
        raise Forbidden(
            f"{user.username} is a {Role(user.role).label} without an area of responsibility and may not act "
            "until an administrator gives them one (the city's code for the whole city)"
        )
    level = area_level
    if level is None and user.area_id is not None:
        area = session.get(Area, user.area_id)
        level = AreaLevel(area.level) if area else None
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        department_id=user.department_id,
        area_id=user.area_id,
        area_level=level,
        session_id=session_id,
        address=address,
    )


def principal_community(session: Session, principal: Principal) -> int | None:
    """The community a grid worker looks after (their grid's parent, or their community itself)."""
    if principal.area_id is None:
        return None
    if principal.area_level is AreaLevel.COMMUNITY:
        return principal.area_id
    if principal.area_level is AreaLevel.GRID:
        return session.scalar(select(Area.parent_id).where(Area.id == principal.area_id))
    return None


def create_department(
    session: Session,
    *,
    code: str,
    name: str,
    kind: DepartmentKind,
    area_id: int | None = None,
    parent_id: int | None = None,
) -> Department:
    if session.scalar(select(Department.id).where(Department.code == code)) is not None:
        raise Conflict(f"a department with code {code} already exists")
    if area_id is not None and session.get(Area, area_id) is None:
        raise Unprocessable(f"area {area_id} does not exist")
    if parent_id is not None and session.get(Department, parent_id) is None:
        raise Unprocessable(f"parent department {parent_id} does not exist")
    department = Department(
        code=code, name=name, kind=kind, area_id=area_id, parent_id=parent_id, active=True
    )
    session.add(department)
    session.flush()
    return department


def create_user(
    session: Session,
    *,
    username: str,
    password: str | None,
    role: Role,
    display_name: str | None = None,
    department_id: int | None = None,
    area_id: int | None = None,
    phone: str | None = None,
) -> User:
    """A user; handlers need a department, dispatchers, supervisors and grid workers an area."""
    taken = session.scalar(select(User.username).where(func.lower(User.username) == username.lower()))
    if taken is not None:
        same = "" if taken == username else f" (as {taken}: names differ in more than case)"
        raise Conflict(f"user name {username} is taken{same}", code="username_taken")
    if password is not None:
        passwords.check_rule(password, username)
    _check_reach(role, department_id, area_id)
    _check_references(session, department_id, area_id)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password) if password else None,
        role=role,
        department_id=department_id,
        area_id=area_id,
        phone=phone,
        active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


def _lock_administrators(session: Session) -> list[int]:
    """The active administrators, their rows taken (in id order, so two such changes cannot deadlock)
    before they are counted: of two administrators disabling each other at once, the second waits and sees
    the first's change. On SQLite the transaction takes the writer lock from here instead."""
    write_from_the_start(session)
    return list(
        session.scalars(
            select(User.id).where(User.role == Role.ADMIN, User.active).order_by(User.id).with_for_update()
        )
    )


def lock_user(session: Session, user: User) -> None:
    """Hold ``user``'s row for the rest of the transaction, re-read (changing a password: two at once
    take turns, and the second checks the current password against the first's)."""
    write_from_the_start(session)
    session.refresh(user, with_for_update=True)


def _check_references(session: Session, department_id: int | None, area_id: int | None) -> None:
    """A department or an area named in a request exists (422, not 404: the path was found)."""
    if department_id is not None and session.get(Department, department_id) is None:
        raise Unprocessable(f"department {department_id} does not exist")
    if area_id is not None and session.get(Area, area_id) is None:
        raise Unprocessable(f"area {area_id} does not exist")


def _check_reach(role: Role, department_id: int | None, area_id: int | None) -> None:
    """What a role's work needs: a handler a department, a dispatcher, supervisor or grid worker an area."""
    if role is Role.HANDLER and department_id is None:
        raise Unprocessable("a department handler needs a department", code="department_required")
    if role in AREA_ROLES and area_id is None:
        raise Unprocessable(
            f"a {role.label} ({role}) needs an area of responsibility (the city's own for the whole city)",
            code="area_required",
        )


def set_password(session: Session, user: User, password: str, *, keep_session: int | None = None) -> None:
    """A new password; every login session of the user ends (but ``keep_session``, the one that changed
    it), so whoever knew the old one is out at once."""
    passwords.check_rule(password, user.username)
    user.password_hash = hash_password(password)
    tokens.clear_lock(user)
    session.flush()
    tokens.end_sessions(session, user.id, tokens.PASSWORD_CHANGED, keep=keep_session)


def update_user(
    session: Session,
    actor: Principal,
    user: User,
    *,
    display_name: str | None = None,
    role: Role | None = None,
    department_id: int | None = None,
    area_id: int | None = None,
    active: bool | None = None,
    unlock: bool = False,
    clear: frozenset[str] = frozenset(),
) -> User:
    """Change a user's name, role, department, area (``clear`` names the last two to empty), whether
    they may log in, or lift a lock after wrong passwords (``unlock``). A disabled user's sessions end at
    once; the change applies to their next request. No change may leave the hub without an active
    administrator, nor lock the actor out."""
    admins: list[int] = []
    if role is not None or active is not None:
        admins = _lock_administrators(session)
        session.refresh(user)  # as it is now that concurrent changes of administrators wait for this one
    new_role = role or user.role
    new_department = None if "department_id" in clear else (department_id or user.department_id)
    new_area = None if "area_id" in clear else (area_id or user.area_id)
    new_active = user.active if active is None else active
    _check_references(session, department_id, area_id)
    _check_reach(new_role, new_department, new_area)
    if user.id == actor.user_id and (not new_active or new_role is not user.role):
        raise Conflict(
            "you cannot disable your own account or change your own role: ask another admin",
            code="own_account",
        )
    # Only a role or an active flag given can step an administrator down, so ``admins`` was read, locked.
    stepping_down = user.role is Role.ADMIN and user.active and (new_role is not Role.ADMIN or not new_active)
    if stepping_down and not [admin for admin in admins if admin != user.id]:
        raise Conflict(
            f"{user.username} is the last active administrator: make another one first",
            code="last_administrator",
        )
    if display_name is not None:
        user.display_name = display_name
    if unlock:
        tokens.clear_lock(user)
    user.role, user.department_id, user.area_id = new_role, new_department, new_area
    if new_active != user.active:
        user.active = new_active
        if not new_active:
            tokens.end_sessions(session, user.id, tokens.ACCOUNT_DISABLED)
    session.flush()
    return user


def end_sessions(session: Session, actor: Principal, user: User, session_id: int | None = None) -> int:
    """End ``user``'s login session ``session_id``, or all their sessions, as an administrator: their access
    and refresh tokens stop working at once, a live stream within 15 s. A session of someone else, or none
    such, is :class:`NotFound`. Audited (``sessions_ended``) when something ended; how many did."""
    if session_id is None:
        ended = tokens.end_sessions(session, user.id, tokens.ENDED_BY_ADMIN)
    else:
        one = tokens.end_one(session, user.id, session_id, tokens.ENDED_BY_ADMIN)
        if one is None:
            raise NotFound(f"{user.username} has no login session {session_id}")
        ended = one
    if ended:
        changes: dict[str, object] = {"sessions": ended}
        if session_id is not None:
            changes["session"] = session_id
        record(session, actor, "sessions_ended", "users", str(user.id), changes)
    return ended
