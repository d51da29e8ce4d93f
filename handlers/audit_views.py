"""What audit entries say in plain words, the purpose officers give before opening personal
data, and «Ai đã xem thông tin của tôi?» for residents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from core.areas import in_sentence
from core.channel import Button, Kind, Platform
from core.models import AuditEntry, Staff
from core.texts import DEFAULT_LANGUAGE, LANGUAGES, catalog
from handlers.context import Context, resolve_choice
from handlers.flow import Flow, Step, ask_again, begin, flow_named, resume
from handlers.registry import REGISTRY

# The rights that open or change one person's data: with AUDIT_ASK_PURPOSE the officer says why.
PERSONAL = frozenset(
    {
        "case.view",
        "case.update",
        "review.decide",
        "trace.run",
        "page.ack",
        "worker.view",
        "export.run",
        "report.handle",
    }
)
PURPOSES = ("quarantine", "tracing", "reports")
OTHER = "other"
PURPOSE_FLOW = "audit_purpose"
TYPED_PURPOSE = range(3, 201)  # characters
VIEWED_DAYS = 30
VIEWED_MAX = 20


async def stated_purpose(ctx: Context, permission: str) -> str | None:
    """The purpose the officer gave within the hour for opening personal data ("" when none
    is asked for); None when they have just been asked: what they sent runs again once they
    answer."""
    if not ctx.services.policy.audit_ask_purpose or permission not in PERSONAL:
        return ""
    purpose = await ctx.services.audit.purpose_of(ctx.actor)
    if purpose:
        return purpose
    await begin(ctx, PURPOSE, {"replay": _update(ctx)})
    return None


def _update(ctx: Context) -> dict[str, Any]:
    """What was sent and where the conversation stood, to run it again later."""
    incoming, conversation = ctx.incoming, ctx.conversation
    sent = {
        "kind": incoming.kind.value,
        "text": incoming.text,
        "command": incoming.command,
        "payload": incoming.payload,
        "button": incoming.button_data,
    }
    if conversation.flow == PURPOSE_FLOW:  # asked again before answering: the new request wins
        return {**sent, "flow": "", "step": "", "data": {}, "options": []}
    return {
        **sent,
        "flow": conversation.flow,
        "step": conversation.step,
        "data": conversation.data,
        "options": [[button.label, button.data] for button in conversation.options],
    }


async def _ask_purpose(ctx: Context) -> None:
    buttons = [
        [Button(ctx.text(f"purpose.{purpose}"), f"purpose:{purpose}")]
        for purpose in (*PURPOSES, OTHER)
    ]
    await ctx.say("purpose.ask", buttons)


async def _take_purpose(ctx: Context) -> str | None:
    purpose = ctx.choice.removeprefix("purpose:")
    if purpose == OTHER:
        return "typed"
    if purpose not in PURPOSES:
        await ctx.choose_again()
        return None
    await _carry_on(ctx, purpose)
    return None


async def _ask_typed(ctx: Context) -> None:
    await ctx.say("purpose.typed")


async def _take_typed(ctx: Context) -> str | None:
    typed = " ".join(ctx.incoming.text.split())
    if ctx.incoming.kind is not Kind.TEXT or len(typed) not in TYPED_PURPOSE:
        await ctx.say("purpose.typed_invalid")
    else:
        await _carry_on(ctx, typed)
    return None


async def _carry_on(ctx: Context, purpose: str) -> None:
    """Remember the purpose for the hour, then do what the officer had asked for."""
    await ctx.services.audit.remember_purpose(ctx.actor, purpose)
    await ctx.say("purpose.noted")
    # The replay puts the conversation back where it stood (and on): no step follows here.
    await _replay(ctx, dict(ctx.conversation.data["replay"]))


async def _replay(ctx: Context, saved: dict[str, Any]) -> None:
    """Handle the saved update again, from where the conversation stood, as the router would."""
    conversation = ctx.conversation
    conversation.flow, conversation.step = saved["flow"], saved["step"]
    conversation.data = dict(saved["data"])
    conversation.options = [Button(label, data) for label, data in saved["options"]]
    incoming = replace(
        ctx.incoming,
        kind=Kind(saved["kind"]),
        text=saved["text"],
        command=saved["command"],
        payload=saved["payload"],
        button_data=saved["button"],
    )
    pressed = incoming.kind is Kind.BUTTON
    choice = incoming.button_data if pressed else resolve_choice(incoming, conversation.options)
    again = Context(
        incoming,
        ctx.out,
        ctx.services,
        ctx.account,
        conversation,
        choice=choice or "",
        staff_language=ctx.staff_language,
    )
    command = REGISTRY.command_named(incoming.command) if incoming.kind is Kind.COMMAND else None
    action = REGISTRY.action_for(again.choice)
    flow = flow_named(conversation.flow)
    if command is not None:
        await command.run(again)
    elif action is not None and (pressed or again.choice.startswith("menu:")):
        await action.run(again)
    elif flow is not None:
        await resume(again, flow)
    ctx.offered = ctx.offered or again.offered


PURPOSE = Flow(
    PURPOSE_FLOW,
    {"choose": Step(_ask_purpose, _take_purpose), "typed": Step(_ask_typed, _take_typed)},
    first="choose",
    staff=True,
)


@REGISTRY.command("aixem", "whoviewed")
async def who_viewed(ctx: Context) -> None:
    """/aixem: which staff read or changed my data lately (role, unit, time), then back."""
    await show_viewers(ctx)
    await ask_again(ctx)


async def show_viewers(ctx: Context) -> None:
    """The last month's staff reads and changes of the user's own data, newest first."""
    if ctx.account is None:
        await ctx.say("me.unregistered")
        return
    since = ctx.services.clock.now() - timedelta(days=VIEWED_DAYS)
    viewings = await viewings_of(ctx, ctx.account.person_id, since, VIEWED_MAX)
    if not viewings:
        await ctx.say("whoviewed.none", days=VIEWED_DAYS)
        return
    lines = [
        ctx.text(
            "whoviewed.line",
            at=viewing.at.astimezone(ctx.services.timezone).strftime("%H:%M %d/%m"),
            who=viewing.who,
            what=viewing.what,
        )
        for viewing in viewings
    ]
    await ctx.send("\n".join([ctx.text("whoviewed.title", days=VIEWED_DAYS), *lines]))


@dataclass(frozen=True)
class Viewing:
    """One staff read or change of a person's data, as the person may see it."""

    at: datetime
    who: str  # role and unit; the name only when configured
    what: str


async def viewings_of(ctx: Context, person: str, since: datetime, limit: int) -> list[Viewing]:
    """Staff reads and changes of a person's data since `since`, newest first (their own
    doings left out)."""
    services = ctx.services
    own = {f"{a.platform.value}:{a.user_id}" for a in await services.accounts.of_person(person)}
    entries = await services.audit.for_person(person, since, limit)
    return [
        Viewing(entry.at, await _viewer(ctx, entry.actor), await deed(ctx, entry))
        for entry in entries
        if entry.allowed and entry.actor not in own
    ]


async def _viewer(ctx: Context, actor: str) -> str:
    """Who it was, as a resident may know: role and unit, the name only when configured."""
    kind, _, user_id = actor.partition(":")
    if kind == "system":
        return ctx.text("audit.actor_system")
    if kind not in {platform.value for platform in Platform}:  # the server's command line
        return ctx.text("whoviewed.server")
    staff = await ctx.services.staff.get(Platform(kind), user_id)
    if staff is None:
        return ctx.text("whoviewed.former_staff")
    role, unit = ctx.text(f"roles.{staff.role.value}"), _unit(ctx, staff)
    if ctx.services.policy.audit_show_names and staff.name:
        return ctx.text("whoviewed.named", role=role, name=staff.name, unit=unit)
    return ctx.text("whoviewed.staff", role=role, unit=unit)


def _unit(ctx: Context, staff: Staff) -> str:
    """The communes a staff member works for, or the district."""
    names = [ctx.services.areas.name(code) for code in staff.areas]
    return ", ".join(names) if names else ctx.text("whoviewed.district")


async def deed(ctx: Context, entry: AuditEntry) -> str:
    """What an entry records as done, from the catalog (an unknown action as recorded)."""
    resolve = AUDIT_TARGETS.get(entry.action.partition(".")[0])
    target = await resolve(ctx, entry.target) if resolve and entry.target else ""
    texts = catalog(ctx.lang if ctx.lang in LANGUAGES else DEFAULT_LANGUAGE)
    key = "audit." + entry.action.replace(".", "_")
    if not target and f"{key}_all" in texts:
        key += "_all"
    return ctx.text(key, target=target) if key in texts else f"{entry.action} {target}".strip()


def account_label(actor: str) -> str:
    """ "telegram:200002" → "Telegram 200002"."""
    kind, _, user_id = actor.partition(":")
    return f"{kind.capitalize()} {user_id}"


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
    return ctx.text("audit.target_account", account=account_label(target))


async def _code_target(ctx: Context, target: str) -> str:
    return ctx.text("audit.target_code", code=target)


async def _report_target(ctx: Context, target: str) -> str:
    report = await ctx.services.reports.get(target)
    return ctx.text("audit.target_report", number=report.number) if report else ""


# What an entry's target names depends on its kind of action; the others name nobody to show.
AUDIT_TARGETS: dict[str, Callable[[Context, str], Awaitable[str]]] = {
    "case": _case_target,
    "review": _declaration_target,
    "page": _declaration_target,
    "staff": _account_target,
    "code": _code_target,
    "report": _report_target,
}
