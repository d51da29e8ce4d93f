"""The one authorization gate for staff commands, and the first staff commands."""

from __future__ import annotations

from core.models import Case, Role, Staff
from handlers.context import Context
from handlers.limits import audit_throttled
from handlers.registry import REGISTRY

AUDIT_PAGE = 10

CASE_WORK = frozenset({"case.enroll", "case.view", "case.update", "review.decide", "page.ack"})
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.DISTRICT_ADMIN: frozenset({"staff.info", "audit.read"}) | CASE_WORK,
    Role.COMMUNE_STAFF: frozenset({"staff.info"}) | CASE_WORK,
    Role.HEALTH_OFFICER: frozenset({"staff.info"}) | CASE_WORK,
    Role.ORG_MANAGER: frozenset({"staff.info"}),
}


def scope(staff: Staff) -> list[str] | None:
    """The areas a staff member covers; None means the whole district."""
    return None if staff.role is Role.DISTRICT_ADMIN else staff.areas


def may(staff: Staff | None, permission: str, area: str | None = None) -> bool:
    """Whether `staff` holds `permission` over `area` (district admins cover every area)."""
    if staff is None or permission not in PERMISSIONS[staff.role]:
        return False
    return area is None or staff.role is Role.DISTRICT_ADMIN or area in staff.areas


async def authorize(
    ctx: Context, permission: str, area: str | None = None, subject: str = ""
) -> Staff | None:
    """The gate: check role and scope, audit the attempt, refuse politely when not allowed.

    `subject` names what is being looked at or changed (a case, a declaration) in the audit
    trail; without it the area is recorded.
    """
    staff, allowed = await _audited_check(ctx, permission, area, subject)
    if not allowed:
        await ctx.say("staff.denied")
        return None
    return staff


async def _audited_check(
    ctx: Context, permission: str, area: str | None, subject: str
) -> tuple[Staff | None, bool]:
    """The staff member and whether they may; the attempt is audited (strangers throttled)."""
    staff = await ctx.services.staff.get(ctx.incoming.platform, ctx.incoming.user_id)
    allowed = may(staff, permission, area)
    target = subject or area or ""
    if staff is None:  # a stranger: repeated tries must not flood the audit trail
        await audit_throttled(ctx, permission, target)
    else:
        await ctx.services.audit.append(ctx.actor, permission, allowed, target=target)
    return staff, allowed


async def authorize_case(ctx: Context, permission: str, number: str) -> Case | None:
    """The case numbered `number` if the staff member may act on it (audited either way).

    A case outside the staff member's areas gets the same answer as a missing one, so the
    answer does not tell whether a case number exists elsewhere in the district.
    """
    case = await ctx.services.cases.by_number(int(number)) if number.isdigit() else None
    area, subject = (case.area, case.id) if case else (None, "")
    staff, allowed = await _audited_check(ctx, permission, area, subject)
    if case is not None and allowed:
        return case
    if may(staff, permission):  # the right, but no such case within their areas
        await ctx.say("case.not_found", number=number)
    else:
        await ctx.say("staff.denied")
    return None


@REGISTRY.command("staff", staff=True)
async def staff_info(ctx: Context) -> None:
    """/staff: my role, scope and commands."""
    staff = await authorize(ctx, "staff.info")
    if staff is not None:
        await describe_role(ctx, staff)


async def describe_role(ctx: Context, staff: Staff) -> None:
    """The staff member's role, scope and command list (no personal data)."""
    scope = (
        ctx.text("staff.all_areas")
        if staff.role is Role.DISTRICT_ADMIN
        else ", ".join(ctx.services.areas.name(code) for code in staff.areas)
    )
    await ctx.say("help.staff", role=ctx.text(f"roles.{staff.role.value}"), scope=scope)


@REGISTRY.command("audit", staff=True)
async def audit_log(ctx: Context) -> None:
    """/audit: the newest audit entries."""
    if await authorize(ctx, "audit.read") is None:
        return
    entries = await ctx.services.audit.latest(AUDIT_PAGE)
    if not entries:
        await ctx.say("staff.audit_empty")
        return
    lines = [ctx.text("staff.audit_title")] + [
        ctx.text(
            "staff.audit_line",
            seq=entry.seq,
            at=ctx.local_time(entry.at),
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            result=ctx.text("staff.audit_allowed" if entry.allowed else "staff.audit_denied"),
        )
        for entry in entries
    ]
    await ctx.send("\n".join(lines))
