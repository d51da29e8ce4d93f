"""What each staff role may do, and over what: the rules the one gate (handlers/staff.py)
applies."""

from __future__ import annotations

from core.models import Organisation, Role, Staff

CASE_WORK = frozenset(
    {
        "case.enroll",
        "case.view",
        "case.list",
        "case.update",
        "review.decide",
        "page.ack",
        "trace.run",
    }
)
PLACES = frozenset({"org.add", "place.manage"})  # organisations and their checkpoints
ALERTS = frozenset({"alert.send", "alert.approve"})  # alerts to citizens of an area
REPORTS = frozenset({"report.handle"})  # citizens' field reports
# Every staff member: who am I, and the daily report's aggregated figures of their areas.
EVERYONE = frozenset({"staff.info", "figures.read"})
# Running a team: inviting and removing staff, binding group chats, exporting records.
TEAM = frozenset({"staff.invite", "staff.manage", "chat.bind", "export.run"})
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.DISTRICT_ADMIN: EVERYONE | {"audit.read"} | TEAM | CASE_WORK | PLACES | ALERTS | REPORTS,
    Role.COMMUNE_STAFF: EVERYONE | TEAM | CASE_WORK | PLACES | ALERTS | REPORTS,
    Role.HEALTH_OFFICER: EVERYONE | {"chat.bind"} | CASE_WORK | PLACES | REPORTS,
    # An organisation's manager runs its checkpoints only: never quarantine health data.
    Role.ORG_MANAGER: frozenset({"staff.info", "place.manage"}),
    # Leaders see aggregated figures, never a person.
    Role.LEADER: EVERYONE,
    # A hamlet's team reads the lists of its hamlet (`Staff.hamlet`) and changes nothing.
    Role.TEAM_MEMBER: frozenset({"staff.info", "case.list"}),
}
# Who may invite whom: a commune's staff invite within their communes, never an admin.
INVITES: dict[Role, frozenset[Role]] = {
    Role.DISTRICT_ADMIN: frozenset(Role),
    Role.COMMUNE_STAFF: frozenset(Role) - {Role.DISTRICT_ADMIN},
}


def covers_district(staff: Staff) -> bool:
    """Whether a staff member's scope is the whole district: admins, and district leaders."""
    return staff.role is Role.DISTRICT_ADMIN or (staff.role is Role.LEADER and not staff.areas)


def scope(staff: Staff) -> list[str] | None:
    """The areas a staff member covers; None means the whole district."""
    return None if covers_district(staff) else staff.areas


def may(staff: Staff | None, permission: str, area: str | None = None) -> bool:
    """Whether `staff` holds `permission` over `area` (district admins cover every area)."""
    if staff is None or permission not in PERMISSIONS[staff.role]:
        return False
    return area is None or covers_district(staff) or area in staff.areas


def may_all(staff: Staff | None, permission: str, areas: list[str]) -> bool:
    """Whether `staff` holds `permission` over every one of `areas`."""
    return all(may(staff, permission, area) for area in areas)


def may_invite(staff: Staff | None, role: Role, areas: list[str]) -> bool:
    """Whether `staff` may invite someone with `role` over `areas` (empty: the whole district,
    which only a district admin may give)."""
    if staff is None or role not in INVITES.get(staff.role, frozenset()):
        return False
    if not areas:
        return covers_district(staff)
    return may_all(staff, "staff.invite", areas)


def may_manage(staff: Staff | None, org: Organisation) -> bool:
    """Whether `staff` may run this organisation's checkpoints: an org manager only their
    own organisations, other staff those of their areas."""
    if staff is not None and staff.role is Role.ORG_MANAGER:
        return org.id in staff.orgs
    return may(staff, "place.manage", org.area)
