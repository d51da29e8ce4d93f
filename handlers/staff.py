"""The one authorization gate for staff commands, and the first staff commands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.areas import in_sentence
from core.models import AuditEntry, Case, Role, Staff
from core.texts import DEFAULT_LANGUAGE, LANGUAGES, catalog
from handlers.context import Context
from handlers.limits import audit_throttled
from handlers.menu import staff_buttons
from handlers.registry import REGISTRY
from handlers.rights import may

AUDIT_PAGE = 10


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
    staff = await ctx.staff_member()
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
    found = (case.area, case.id) if case else None
    allowed = await authorize_found(ctx, permission, found, "case.not_found", number=number)
    return case if allowed else None


async def authorize_found(
    ctx: Context, permission: str, found: tuple[str, str] | None, missing: str, **values: object
) -> bool:
    """Whether the staff member may act on a record found by number, as (area, id); None
    for no such record. Out of their areas it is `missing` to them, as a missing record is."""
    area, subject = found or (None, "")
    staff, allowed = await _audited_check(ctx, permission, area, subject)
    if found is not None and allowed:
        return True
    if may(staff, permission):  # the right, but no such record within their areas
        await ctx.send(ctx.text(missing, **values))
    else:
        await ctx.say("staff.denied")
    return False


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
    buttons = staff_buttons(ctx, staff) if ctx.incoming.private else []
    role = ctx.text(f"roles.{staff.role.value}")
    await ctx.say("help.staff", buttons, role=role, scope=scope)


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
    resolve = AUDIT_TARGETS.get(entry.action.partition(".")[0])
    target = await resolve(ctx, entry.target) if resolve and entry.target else ""
    return ctx.text(
        "staff.audit_line" if entry.allowed else "staff.audit_line_denied",
        at=entry.at.astimezone(ctx.services.timezone).strftime("%H:%M %d/%m"),
        actor=await _actor(ctx, entry.actor, members),
        action=_deed(ctx, entry.action, target),
    )


def _account_label(actor: str) -> str:
    """ "telegram:200002" → "Telegram 200002"."""
    kind, _, user_id = actor.partition(":")
    return f"{kind.capitalize()} {user_id}"


async def _actor(ctx: Context, actor: str, members: dict[str, Staff]) -> str:
    """Who acted: a staff member by role, name and communes; else the account or the system."""
    kind, _, user = actor.partition(":")
    if kind in ("cli", "system"):
        return ctx.text(f"audit.actor_{kind}", user=user)
    member = members.get(actor)
    if member is None:
        return ctx.text("audit.actor_account", account=_account_label(actor))
    areas = ", ".join(in_sentence(ctx.services.areas.name(code)) for code in member.areas)
    values = {
        "role": ctx.text(f"roles.{member.role.value}"),
        "areas": areas or ctx.text("staff.all_areas"),
        "account": _account_label(actor),
    }
    name = await _person_name(ctx, member)
    if name:
        return ctx.text("audit.actor_staff_named", name=name, **values)
    return ctx.text("audit.actor_staff", **values)


async def _person_name(ctx: Context, member: Staff) -> str:
    """The staff member's own name, when their chat account is also a registered person."""
    account = await ctx.services.accounts.get(member.platform, member.user_id)
    person = await ctx.services.people.get(account.person_id) if account else None
    return person.name if person else ""


def _deed(ctx: Context, action: str, target: str) -> str:
    """What was done, from the catalog; an action it does not know yet is shown as recorded."""
    texts = catalog(ctx.lang if ctx.lang in LANGUAGES else DEFAULT_LANGUAGE)
    key = "audit." + action.replace(".", "_")
    if not target and f"{key}_all" in texts:
        key += "_all"
    return ctx.text(key, target=target) if key in texts else f"{action} {target}".strip()


async def _case_target(ctx: Context, target: str) -> str:
    case = await ctx.services.cases.get(target)
    if case is not None:
        return ctx.text("audit.target_case", number=case.number)
    area = ctx.services.areas.get(target)
    return ctx.text("audit.target_case_in_area", area=in_sentence(area.name)) if area else ""


async def _declaration_target(ctx: Context, target: str) -> str:
    declaration = await ctx.services.declarations.get(target)
    if declaration is None:
        return ""
    case = await ctx.services.cases.get(declaration.case_id)
    number = case.number if case else "?"
    return ctx.text("audit.target_declaration", receipt=declaration.receipt, number=number)


async def _account_target(ctx: Context, target: str) -> str:
    return ctx.text("audit.target_account", account=_account_label(target))


async def _code_target(ctx: Context, target: str) -> str:
    return ctx.text("audit.target_code", code=target)


# What an entry's target names depends on its kind of action; the others name nobody to show.
AUDIT_TARGETS: dict[str, Callable[[Context, str], Awaitable[str]]] = {
    "case": _case_target,
    "review": _declaration_target,
    "page": _declaration_target,
    "staff": _account_target,
    "code": _code_target,
}
