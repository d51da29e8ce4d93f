"""Alerts to citizens, written in a staff chat: /alert (kind → areas → text or a template →
a preview per platform with the recipients and the time to send → confirm), /alert update N,
/alert cancel N and /alerts. Sending itself is the broadcaster's job (scheduler/broadcasts.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.alerts import (
    KINDS,
    TEMPLATES,
    TEXT_MAX,
    areas_label,
    duration,
    reference,
    seconds_to_send,
)
from core.channel import Button, Platform
from core.dates import format_date
from core.models import Alert, AlertKind, AlertState, AlertText, ChatRef, Staff
from core.texts import LANGUAGES, t
from handlers.alert_approval import approve, ask_approval, decline, preview
from handlers.case_views import args
from handlers.context import Context
from handlers.flow import AREA, END, Flow, Step, begin
from handlers.registry import REGISTRY
from handlers.rights import may, may_all, scope
from handlers.staff import authorize

ALL = "all"
TEMPLATE = "tpl:"
SEND, DISCARD = "send", "discard"
RECENT = 10
DECIDE = {"ok": approve, "xacnhan": approve, "no": decline, "khong": decline}
ACTIONS = {"update", "capnhat", "cancel", "huy", *DECIDE}
OPEN = (AlertState.PENDING, AlertState.APPROVED, AlertState.SENDING, AlertState.DONE)


@REGISTRY.command("alert", "canhbao", staff=True)
async def alert(ctx: Context) -> None:
    """/alert: write a new alert; /alert update N, /alert cancel N: follow one up."""
    words = args(ctx)
    if not words:
        if await authorize(ctx, "alert.send") is not None:
            await begin(ctx, COMPOSE)
        return
    action, number = words[0].lower(), words[1] if len(words) > 1 else ""
    if action not in ACTIONS or not number.isdigit():
        await ctx.say("alert.usage")
        return
    if action in DECIDE:  # typed on Zalo, where proactive messages carry no buttons
        await DECIDE[action](ctx, await ctx.services.alerts.by_number(int(number)))
        return
    found = await _followed(ctx, int(number))
    if found is None:
        return
    if action in ("update", "capnhat"):
        data = _draft(found.kind, found.areas, msg_type="Update", follows=found.id)
        await begin(ctx, COMPOSE, data, step="text")
    else:
        await begin(ctx, CANCEL, {"follows": found.id})


@REGISTRY.command("alerts", "dscanhbao", staff=True)
async def recent_alerts(ctx: Context) -> None:
    """/alerts: the latest alerts with their numbers and states."""
    staff = await authorize(ctx, "alert.send")
    if staff is None:
        return
    visible = [a for a in await ctx.services.alerts.recent(RECENT) if _covers(staff, a)]
    if not visible:
        await ctx.say("alert.list_empty")
        return
    lines = [ctx.text("alert.list_title"), *(_line(ctx, a) for a in visible)]
    await ctx.send("\n".join(lines))


def _line(ctx: Context, alert: Alert) -> str:
    return ctx.text(
        "alert.list_line",
        number=alert.number,
        kind=ctx.text(f"alert.kind_{alert.kind.value}"),
        headline=alert.text_in(ctx.lang).headline,
        areas=areas_label(alert.areas, ctx.services.areas),
        state=ctx.text(f"alert.state_{alert.state.value}"),
    )


def _covers(staff: Staff, alert: Alert) -> bool:
    """Whether the staff member's areas include any of the alert's."""
    return any(may(staff, "alert.send", area) for area in alert.areas)


async def _followed(ctx: Context, number: int) -> Alert | None:
    """The alert to update or cancel, if this officer may and it is still open."""
    found = await ctx.services.alerts.by_number(number)
    staff = await authorize(ctx, "alert.send", subject=found.id if found else "")
    if staff is None:
        return None
    if found is None or not may_all(staff, "alert.send", found.areas):
        await ctx.say("alert.not_found", number=number)
        return None
    if found.state not in OPEN or found.msg_type == "Cancel":
        await ctx.say("alert.closed", number=number)
        return None
    return found


def _draft(kind: AlertKind, areas: list[str], **more: Any) -> dict[str, object]:
    return {"kind": kind.value, "areas": areas, **more}


# ---- kind ------------------------------------------------------------------------------


async def ask_kind(ctx: Context) -> None:
    """Warning, recommendation or emergency."""
    buttons = [[Button(ctx.text(f"alert.kind_{kind.value}"), kind.value)] for kind in AlertKind]
    await ctx.say("alert.choose_kind", buttons)


async def take_kind(ctx: Context) -> str | None:
    """Keep the kind."""
    if ctx.choice not in {kind.value for kind in AlertKind}:
        await ctx.choose_again()
        return None
    ctx.conversation.data["kind"] = ctx.choice
    return "areas"


# ---- areas -----------------------------------------------------------------------------


async def ask_areas(ctx: Context) -> None:
    """The communes in the officer's scope, and all of them at once."""
    staff = await ctx.staff_member()
    assert staff is not None
    everything = scope(staff) is None
    label = ctx.text("alert.all_district" if everything else "alert.all_mine")
    buttons = [[Button(label, ALL)]] + [
        [Button(ctx.services.areas.name(code), f"{AREA}{code}")] for code in _scope(ctx, staff)
    ]
    await ctx.say("alert.choose_areas", buttons)


def _scope(ctx: Context, staff: Staff) -> list[str]:
    areas = scope(staff)
    return [area.code for area in ctx.services.areas.areas] if areas is None else areas


async def take_areas(ctx: Context) -> str | None:
    """A button, or typed commune names; every one must be within the officer's scope."""
    staff = await ctx.staff_member()
    assert staff is not None
    if ctx.choice == ALL:
        chosen = _scope(ctx, staff)
    elif ctx.choice.startswith(AREA):
        chosen = [ctx.choice.removeprefix(AREA)]
    else:
        typed = await _typed_areas(ctx)
        if typed is None:
            return None
        chosen = typed
    outside = [code for code in chosen if not may(staff, "alert.send", code)]
    if outside:
        mine = ", ".join(ctx.services.areas.name(code) for code in _scope(ctx, staff))
        await ctx.say("alert.area_outside", area=ctx.services.areas.name(outside[0]), areas=mine)
        return None
    ctx.conversation.data["areas"] = chosen
    return "text"


async def _typed_areas(ctx: Context) -> list[str] | None:
    """The communes typed ("Tân Hà, Tân Hội"); None (the user told) when one is unknown."""
    parts = [part.strip() for part in ctx.incoming.text.split(",") if part.strip()]
    if not parts:
        await ctx.choose_again()
        return None
    found = [(part, ctx.services.areas.find(part)) for part in parts]
    unknown = next((part for part, area in found if area is None), None)
    if unknown is not None:
        await ctx.say("alert.area_unknown", typed=unknown[:60])
        return None
    return list(dict.fromkeys(area.code for _, area in found if area is not None))


# ---- text ------------------------------------------------------------------------------


async def ask_text(ctx: Context) -> None:
    """A template, or the officer's own text."""
    buttons = [
        [Button(ctx.text(f"alert.template_{name}"), f"{TEMPLATE}{name}")] for name in TEMPLATES
    ]
    followed = await _followed_draft(ctx)
    if followed is not None:
        headline = followed.text_in(ctx.lang).headline
        await ctx.say("alert.update_text", buttons, number=followed.number, headline=headline)
    else:
        await ctx.say("alert.choose_text", buttons, max=TEXT_MAX)


async def _followed_draft(ctx: Context) -> Alert | None:
    follows = str(ctx.conversation.data.get("follows", ""))
    return await ctx.services.alerts.get(follows) if follows else None


async def take_text(ctx: Context) -> str | None:
    """Keep the template's texts (in every language) or the typed text (in the officer's)."""
    if ctx.choice.startswith(TEMPLATE) and ctx.choice.removeprefix(TEMPLATE) in TEMPLATES:
        texts = _template(ctx, ctx.choice.removeprefix(TEMPLATE))
    else:
        typed = ctx.incoming.text.strip()
        if not typed:
            await ctx.say("alert.text_empty")
            return None
        if len(typed) > TEXT_MAX:
            await ctx.say("alert.text_too_long", length=len(typed), max=TEXT_MAX)
            return None
        headline, _, description = typed.partition("\n")
        texts = [AlertText(language=ctx.lang, headline=headline, description=description.strip())]
    ctx.conversation.data["texts"] = [text.model_dump() for text in texts]
    return "confirm"


def _template(ctx: Context, name: str) -> list[AlertText]:
    """A template in every language, filled with the areas and today's date."""
    areas = areas_label(list(ctx.conversation.data["areas"]), ctx.services.areas)
    day = format_date(ctx.services.today())
    return [
        AlertText(
            language=lang,
            **{
                part: t(lang, f"alert.template_{name}_{part}", areas=areas, date=day)
                for part in ("headline", "description", "instruction")
            },
        )
        for lang in LANGUAGES
    ]


# ---- preview and confirm ---------------------------------------------------------------


async def ask_confirm(ctx: Context) -> None:
    """The alert as each platform's citizens will get it, how many, how long; then confirm."""
    draft = await _alert(ctx, ctx.services.clock.now())
    services = ctx.services
    for platform in Platform:
        await ctx.say("alert.preview", platform=platform.name.capitalize())
        await ctx.send(preview(services, draft, ctx.lang))
    counts = await services.subscribers.count_in_areas(draft.areas, draft.severe)
    areas = areas_label(draft.areas, services.areas)
    if not any(counts.values()):
        await ctx.say("alert.nobody", areas=areas)
    buttons = [[Button(ctx.text("alert.send"), SEND)], [Button(ctx.text("alert.discard"), DISCARD)]]
    await ctx.say(
        "alert.summary",
        buttons,
        telegram=counts[Platform.TELEGRAM],
        zalo=counts[Platform.ZALO],
        areas=areas,
        eta=duration(ctx.lang, seconds_to_send(counts, services.policy.alerts.rates)),
    )


async def take_confirm(ctx: Context) -> str | None:
    """Send (or ask for the second officer), or drop the draft."""
    if ctx.choice == DISCARD:
        await ctx.say("alert.discarded")
        return END
    if ctx.choice != SEND:
        await ctx.choose_again()
        return None
    staff = await authorize(ctx, "alert.send")
    areas = list(ctx.conversation.data["areas"])
    if staff is None or not may_all(staff, "alert.send", areas):
        return END
    await _submit(ctx, await _alert(ctx, ctx.services.clock.now(), number=True))
    return END


async def _submit(ctx: Context, alert: Alert) -> None:
    """Store the alert: to be sent, or waiting for a second officer; say which."""
    services = ctx.services
    if not await services.alerts.add(alert):  # the same update run again: already stored
        alert = await services.alerts.get(alert.id) or alert
    if alert.state is AlertState.PENDING:
        # Asked again after a crash between the two writes: the requests' keys dedupe it.
        await ask_approval(services, alert)
    key = "alert.needs_second" if alert.state is AlertState.PENDING else "alert.started"
    await ctx.say(key, number=alert.number)


def _needs_second(ctx: Context, kind: AlertKind, areas: list[str]) -> bool:
    """ALERT_TWO_PERSON: an emergency to the whole district takes two officers."""
    district = {area.code for area in ctx.services.areas.areas}
    return (
        ctx.services.policy.alerts.two_person
        and kind is AlertKind.EMERGENCY
        and set(areas) >= district
    )


async def _alert(ctx: Context, now: datetime, number: bool = False) -> Alert:
    """The alert the flow has put together (numbered only when it is to be stored)."""
    data, services = ctx.conversation.data, ctx.services
    kind = AlertKind(str(data["kind"]))
    areas = [str(area) for area in data["areas"]]
    texts = [AlertText.model_validate(text) for text in data["texts"]]
    followed = await _followed_draft(ctx)
    rules, fields = services.policy.alerts, KINDS[kind]
    seq = await services.alerts.next_number() if number else 0
    state = AlertState.PENDING if _needs_second(ctx, kind, areas) else AlertState.APPROVED
    return Alert(
        id=ctx.new_id("alert"),
        number=seq,
        identifier=f"KB-{now.astimezone(services.timezone):%Y%m%d}-{seq}",
        sender=rules.sender,
        sent=now,
        msg_type=str(data.get("msg_type", "Alert")),
        references=[reference(followed, services.timezone)] if followed else [],
        kind=kind,
        event=t(texts[0].language, f"alert.event_{kind.value}"),
        urgency=fields.urgency,
        severity=fields.severity,
        certainty=fields.certainty,
        texts=texts,
        areas=areas,
        state=state,
        created_by=ctx.actor,
        approved_by="" if state is AlertState.PENDING else ctx.actor,
        origin=ChatRef(platform=ctx.incoming.platform, chat_id=ctx.incoming.chat_id),
        origin_language=ctx.lang,
        follows=followed.id if followed else "",
        created_at=now,
    )


COMPOSE = Flow(
    name="alert",
    staff=True,
    first="kind",
    steps={
        "kind": Step(ask_kind, take_kind),
        "areas": Step(ask_areas, take_areas),
        "text": Step(ask_text, take_text),
        "confirm": Step(ask_confirm, take_confirm),
    },
)


# ---- cancel ------------------------------------------------------------------------------


async def ask_cancel(ctx: Context) -> None:
    """Cancel this alert?"""
    followed = await _followed_draft(ctx)
    assert followed is not None
    buttons = [
        [Button(ctx.text("alert.cancel_yes"), "yes")],
        [Button(ctx.text("alert.cancel_no"), "no")],
    ]
    headline = followed.text_in(ctx.lang).headline
    await ctx.say("alert.cancel_confirm", buttons, number=followed.number, headline=headline)


async def take_cancel(ctx: Context) -> str | None:
    """Queue the cancellation to those the alert reached; the rest of it stops."""
    followed = await _followed_draft(ctx)
    if ctx.choice not in ("yes", "no") or followed is None:
        await ctx.choose_again()
        return None
    if ctx.choice == "no":
        await ctx.say("alert.kept", number=followed.number)
        return END
    if await _followed(ctx, followed.number) is None:
        return END
    when = ctx.local_time(followed.sent)
    ctx.conversation.data.update(
        _draft(
            followed.kind,
            followed.areas,
            msg_type="Cancel",
            follows=followed.id,
            texts=[_cancel_text(text, when).model_dump() for text in followed.texts],
        )
    )
    cancel = await _alert(ctx, ctx.services.clock.now(), number=True)
    cancel.state = AlertState.APPROVED  # a cancellation never waits for a second officer
    await ctx.services.alerts.add(cancel)
    await ctx.say("alert.cancelled", number=followed.number)
    return END


def _cancel_text(text: AlertText, when: str) -> AlertText:
    lang = text.language
    return AlertText(
        language=lang,
        headline=t(lang, "alert.cancel_headline", headline=text.headline),
        description=t(lang, "alert.cancel_description", headline=text.headline, when=when),
    )


CANCEL = Flow(
    name="alert_cancel",
    staff=True,
    first="confirm",
    steps={"confirm": Step(ask_cancel, take_cancel)},
)
