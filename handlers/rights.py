"""What each staff role may do, and over what: the rules the one gate (handlers/staff.py)
applies."""

from __future__ import annotations

from core.models import Organisation, Role, Staff

CASE_WORK = frozenset(
    {"case.enroll", "case.view", "case.update", "review.decide", "page.ack", "trace.run"}
)
PLACES = frozenset({"org.add", "place.manage"})  # organisations and their checkpoints
ALERTS = frozenset({"alert.send", "alert.approve"})  # alerts to citizens of an area
REPORTS = frozenset({"report.handle"})  # citizens' field reports
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.DISTRICT_ADMIN: frozenset({"staff.info", "audit.read"})
    | CASE_WORK
    | PLACES
    | ALERTS
    | REPORTS,
    Role.COMMUNE_STAFF: frozenset({"staff.info"}) | CASE_WORK | PLACES | ALERTS | REPORTS,
    Role.HEALTH_OFFICER: frozenset({"staff.info"}) | CASE_WORK | PLACES | REPORTS,
    # An organisation's manager runs its checkpoints only: never quarantine health data.
    Role.ORG_MANAGER: frozenset({"staff.info", "place.manage"}),
}


def scope(staff: Staff) -> list[str] | None:
    """The areas a staff member covers; None means the whole district."""
    return None if staff.role is Role.DISTRICT_ADMIN else staff.areas


def may(staff: Staff | None, permission: str, area: str | None = None) -> bool:
    """Whether `staff` holds `permission` over `area` (district admins cover every area)."""
    if staff is None or permission not in PERMISSIONS[staff.role]:
        return False
    return area is None or staff.role is Role.DISTRICT_ADMIN or area in staff.areas


def may_all(staff: Staff | None, permission: str, areas: list[str]) -> bool:
    """Whether `staff` holds `permission` over every one of `areas`."""
    return all(may(staff, permission, area) for area in areas)


def may_manage(staff: Staff | None, org: Organisation) -> bool:
    """Whether `staff` may run this organisation's checkpoints: an org manager only their
    own organisations, other staff those of their areas."""
    if staff is not None and staff.role is Role.ORG_MANAGER:
        return org.id in staff.orgs
    return may(staff, "place.manage", org.area)
