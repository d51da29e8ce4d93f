"""The one authorization gate for staff commands, and the first staff commands."""

from __future__ import annotations

from core.areas import in_sentence
from core.models import AuditEntry, Case, Role, Staff
from handlers.audit_views import account_label, deed, stated_purpose
from handlers.context import Context
from handlers.limits import audit_throttled
from handlers.menu import staff_buttons
from handlers.registry import REGISTRY
from handlers.rights import covers_district, may

AUDIT_PAGE = 10
# The staff help's lines (`help_staff.<command>`), in the order shown, each with the right
# it needs: a member is shown only the commands they may use.
HELP_LINES: dict[str, str] = {
    "enroll": "case.enroll",
    "cases": "case.list",
    "case": "case.view",
    "missed": "case.list",
    "review": "review.decide",
    "ack": "page.ack",
    "extend": "case.update",
    "end": "case.update",
    "test": "case.update",
    "proxy": "case.update",
    "home": "case.update",
    "places": "place.manage",
    "trace": "trace.run",
    "import": "place.manage",
    "card": "place.manage",
    "worker": "place.manage",
    "alert": "alert.send",
    "reports": "report.handle",
    "ticket": "report.handle",
    "report": "figures.read",
    "whoami": "staff.info",
    "staff": "staff.manage",
    "bindchat": "chat.bind",
    "export": "export.run",
    "audit": "audit.read",
}


async def authorize(
    ctx: Context,
    permission: str,
    area: str | None = None,
    subject: str = "",
    person: str = "",
) -> Staff | None:
    """The gate: check role and scope, audit the attempt, refuse politely when not allowed.

    `subject` names what is being looked at or changed (a case, a declaration) in the audit
    trail, without it the area is recorded; `person` is whose data it is. None also when
    the officer is first asked their purpose (the command runs again once they answer).
    """
    staff, allowed, asked = await _audited_check(ctx, permission, area, subject, person)
    if not allowed and not asked:
        await ctx.say("staff.denied")
    return staff if allowed else None


async def _audited_check(
    ctx: Context,
    permission: str,
    area: str | None,
    subject: str,
    person: str,
    ask: bool = True,
) -> tuple[Staff | None, bool, bool]:
    """The staff member, whether they may, and whether they were asked their purpose first
    (then nothing is recorded yet); the attempt is audited (strangers throttled)."""
    staff = await ctx.staff_member()
    allowed = may(staff, permission, area)
    purpose = await stated_purpose(ctx, permission) if allowed and ask else ""
    if purpose is None:
        return staff, False, True
    target = subject or area or ""
    if staff is None:  # a stranger: repeated tries must not flood the audit trail
        await audit_throttled(ctx, permission, target)
    else:
        await ctx.services.audit.append(
            ctx.actor, permission, allowed, target=target, person=person, purpose=purpose
        )
    return staff, allowed, False


async def authorize_case(ctx: Context, permission: str, number: str) -> Case | None:
    """The case numbered `number` if the staff member may act on it (audited either way).

    A case outside the staff member's areas gets the same answer as a missing one, so the
    answer does not tell whether a case number exists elsewhere in the district.
    """
    case = await ctx.services.cases.by_number(int(number)) if number.isdigit() else None
    found = (case.area, case.id) if case else None
    person = case.person_id if case else ""
    allowed = await authorize_found(
        ctx, permission, found, "case.not_found", person=person, number=number
    )
    return case if allowed else None


async def authorize_found(
    ctx: Context,
    permission: str,
    found: tuple[str, str] | None,
    missing: str,
    person: str = "",
    **values: object,
) -> bool:
    """Whether the staff member may act on a record found by number, as (area, id) and whose
    data it is (`person`); None for no such record. Out of their areas it is `missing` to
    them, as a missing record is."""
    area, subject = found or (None, "")
    staff, allowed, asked = await _audited_check(
        ctx, permission, area, subject, person, ask=found is not None
    )
    if found is not None and allowed:
        return True
    if asked:
        return False
    if may(staff, permission):  # the right, but no such record within their areas
        await ctx.send(ctx.text(missing, **values))
    else:
        await ctx.say("staff.denied")
    return False


@REGISTRY.command("whoami", "toila", staff=True)
async def staff_info(ctx: Context) -> None:
    """/whoami: my role, scope and commands."""
    staff = await authorize(ctx, "staff.info")
    if staff is not None:
        await describe_role(ctx, staff)


async def describe_role(ctx: Context, staff: Staff) -> None:
    """The staff member's role, scope and command list (no personal data)."""
    buttons = staff_buttons(ctx, staff) if ctx.incoming.private else []
    role = ctx.text(f"roles.{staff.role.value}")
    header = ctx.text("help.staff", role=role, scope=await scope_text(ctx, staff))
    lines = [
        ctx.text(f"help_staff.{name}") for name, right in HELP_LINES.items() if may(staff, right)
    ]
    await ctx.send("\n\n".join([header, "\n".join(lines)]), buttons)


async def scope_text(ctx: Context, staff: Staff) -> str:
    """What a staff member covers, in words: the district, their organisations, their
    communes (and a team member's hamlet)."""
    if covers_district(staff):
        return ctx.text("staff.all_areas")
    if staff.role is Role.ORG_MANAGER:
        orgs = [await ctx.org(org_id) for org_id in staff.orgs]
        return ", ".join(org.name for org in orgs if org is not None)
    areas = ", ".join(ctx.services.areas.name(code) for code in staff.areas)
    if staff.hamlet:
        return ctx.text("staff_invite.hamlet_scope", area=areas, hamlet=staff.hamlet)
    return areas


@REGISTRY.command("audit", staff=True)
async def audit_log(ctx: Context) -> None:
    """/audit: the newest audit entries, in plain words."""
    if await authorize(ctx, "audit.read") is None:
        return
    entries = await ctx.services.audit.latest(AUDIT_PAGE)
    if not entries:
        await ctx.say("staff.audit_empty")
        return
    members = {f"{s.platform.value}:{s.user_id}": s for s in await ctx.services.staff.all()}
    lines = [await _audit_line(ctx, entry, members) for entry in entries]
    await ctx.send("\n".join([ctx.text("staff.audit_title"), *lines]))


async def _audit_line(ctx: Context, entry: AuditEntry, members: dict[str, Staff]) -> str:
    """One entry as a sentence: when, who, and what they did (or were refused)."""
    return ctx.text(
        "staff.audit_line" if entry.allowed else "staff.audit_line_denied",
        at=entry.at.astimezone(ctx.services.timezone).strftime("%H:%M %d/%m"),
        actor=await _actor(ctx, entry.actor, members),
        action=await deed(ctx, entry),
    )


async def _actor(ctx: Context, actor: str, members: dict[str, Staff]) -> str:
    """Who acted: a staff member by role, name and communes; else the account or the system."""
    kind, _, user = actor.partition(":")
    if kind in ("cli", "system"):
        return ctx.text(f"audit.actor_{kind}", user=user)
    member = members.get(actor)
    if member is None:
        return ctx.text("audit.actor_account", account=account_label(actor))
    areas = ", ".join(in_sentence(ctx.services.areas.name(code)) for code in member.areas)
    values = {
        "role": ctx.text(f"roles.{member.role.value}"),
        "areas": areas or ctx.text("staff.all_areas"),
        "account": account_label(actor),
    }
    name = await person_name(ctx, member)
    if name:
        return ctx.text("audit.actor_staff_named", name=name, **values)
    return ctx.text("audit.actor_staff", **values)


async def person_name(ctx: Context, member: Staff) -> str:
    """The staff member's name: as invited, else their own when their chat account is also a
    registered person; "" when neither is known."""
    if member.name:
        return member.name
    account = await ctx.services.accounts.get(member.platform, member.user_id)
    person = await ctx.services.people.get(account.person_id) if account else None
    return person.name if person else ""
