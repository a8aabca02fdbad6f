"""Departments and users."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from cityhub.access import policy
from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.audit.hooks import bind_principal
from cityhub.kit.text import Input
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
    username: str = Field(min_length=2, max_length=60, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: Role
    display_name: str | None = Field(None, max_length=100)
    department_id: int | None = None
    area_id: int | None = None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    department_id: int | None
    area_id: int | None
    active: bool


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
    return [
        UserOut.model_validate(u, from_attributes=True)
        for u in session.scalars(select(User).order_by(User.id))
    ]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, principal: PrincipalDep, session: SessionDep) -> UserOut:
    """Add a user with a role, a department and an area of responsibility."""
    policy.authorize(principal, "users.manage")
    bind_principal(session, principal)
    user = service.create_user(session, **body.model_dump())
    return UserOut.model_validate(user, from_attributes=True)
