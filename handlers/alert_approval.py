"""Alerts that wait for an officer's confirmation: an emergency to the whole district when two
people must agree (ALERT_TWO_PERSON), and CAP alerts received from other systems."""

from __future__ import annotations

from core.alerts import areas_label, citizen_text, signature
from core.channel import Button, Platform
from core.models import Alert, AlertState, ChatRef, Staff
from core.texts import t
from handlers.context import Context, Services
from handlers.notices import chats_covering, queue, to_chats, to_staff
from handlers.registry import REGISTRY
from handlers.rights import may_all
from handlers.staff import authorize

APPROVE = "alert_ok:"
DECLINE = "alert_no:"


def preview(services: Services, alert: Alert, language: str) -> str:
    """The alert exactly as a citizen reading `language` gets it."""
    sign = signature(services.policy.alerts, services.areas)
    return citizen_text(alert, language, sign, services.timezone)


def approvers(alert: Alert, staff: list[Staff]) -> list[Staff]:
    """Who may confirm the alert: staff covering all its areas, except whoever wrote it."""
    return [
        member
        for member in staff
        if may_all(member, "alert.approve", alert.areas)
        and f"{member.platform.value}:{member.user_id}" != alert.created_by
    ]


async def ask_approval(services: Services, alert: Alert) -> int:
    """Ask the officers who may confirm a pending alert, and the staff group chats bound to
    its areas; returns how many officers were asked."""
    counts = await services.subscribers.count_in_areas(alert.areas, alert.severe)
    asked = approvers(alert, await services.staff.all())
    count = sum(counts.values())

    def text(platform: Platform, lang: str) -> str:
        key = "alert.ask_cap" if alert.source == "cap" else "alert.ask_second"
        request = t(
            lang,
            key,
            number=alert.number,
            by=alert.created_by,
            sender=alert.sender,
            areas=areas_label(alert.areas, services.areas),
            count=count,
            preview=preview(services, alert, lang),
        )
        if platform is Platform.TELEGRAM:
            return request
        # Zalo shows buttons as numbers tied to a conversation: there officers type commands.
        return f"{request}\n\n{t(lang, 'alert.approve_typed', number=alert.number)}"

    def buttons(platform: Platform, lang: str) -> list[list[Button]]:
        if platform is not Platform.TELEGRAM:
            return []
        return [
            [Button(t(lang, "alert.approve"), f"{APPROVE}{alert.id}")],
            [Button(t(lang, "alert.decline"), f"{DECLINE}{alert.id}")],
        ]

    key = f"alert-approval:{alert.id}"
    messages = to_staff(
        key,
        asked,
        lambda m: text(m.platform, m.language),
        lambda m: buttons(m.platform, m.language),
    )
    chats = await chats_covering(services, alert.areas)
    await queue(services, [*messages, *to_chats(key, chats, text, buttons)])
    return len(asked)


@REGISTRY.action(APPROVE, in_groups=True)
async def approve_button(ctx: Context) -> None:
    """The «confirm» button of a pending alert."""
    await approve(ctx, await ctx.services.alerts.get(ctx.choice.removeprefix(APPROVE)))


@REGISTRY.action(DECLINE, in_groups=True)
async def decline_button(ctx: Context) -> None:
    """The «don't send» button of a pending alert."""
    await decline(ctx, await ctx.services.alerts.get(ctx.choice.removeprefix(DECLINE)))


async def approve(ctx: Context, found: Alert | None) -> None:
    """An officer confirms a pending alert: it is queued for sending, its progress shown to
    whoever wrote it (or, for a CAP alert, to this officer)."""
    alert = await _pending(ctx, found)
    if alert is None:
        return
    origin = alert.origin or ChatRef(platform=ctx.incoming.platform, chat_id=ctx.incoming.chat_id)
    moved = await ctx.services.alerts.move(
        alert.id,
        [AlertState.PENDING],
        AlertState.APPROVED,
        approved_by=ctx.actor,
        origin=origin.model_dump(mode="python"),
        origin_language=alert.origin_language if alert.origin else ctx.lang,
    )
    await ctx.say("alert.approved" if moved else "alert.not_pending", number=alert.number)


async def decline(ctx: Context, found: Alert | None) -> None:
    """An officer declines a pending alert: it is never sent."""
    alert = await _pending(ctx, found)
    if alert is None:
        return
    moved = await ctx.services.alerts.move(
        alert.id, [AlertState.PENDING], AlertState.REFUSED, approved_by=ctx.actor
    )
    await ctx.say("alert.declined" if moved else "alert.not_pending", number=alert.number)


async def _pending(ctx: Context, found: Alert | None) -> Alert | None:
    """The pending alert, if this officer may decide on it (they are told otherwise)."""
    staff = await authorize(ctx, "alert.approve", subject=found.id if found else "")
    if staff is None:
        return None
    if found is None or not may_all(staff, "alert.approve", found.areas):
        await ctx.say("staff.denied")
        return None
    if found.created_by == ctx.actor:
        await ctx.say("alert.own_alert")
        return None
    if found.state is not AlertState.PENDING:
        await ctx.say("alert.not_pending", number=found.number)
        return None
    return found
