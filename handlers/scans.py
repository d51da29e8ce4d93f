"""Scanning a checkpoint's QR code: in, out, moving on elsewhere, a double tap.

Telegram opens `/start cp_<token>` from the poster; Zalo users send the poster's code or a
photo of it. Someone not registered yet registers first, then the scan completes. The first
check-in of the day asks the daily health questions (handlers/daily_check.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from core.channel import ChannelError, Kind, TooLarge
from core.checkpoints import (
    CHECKPOINT_KIND,
    card_in_qr,
    read_checkpoint_token,
    token_in_qr,
    verify_checkpoint,
)
from core.models import Card, Checkpoint, Visit, VisitEnd
from core.personal_data import withdrawn
from core.qr import read_qr
from core.tokens import CODE_PREFIX, InvalidToken
from handlers.context import Context
from handlers.daily_check import ask_daily_check
from handlers.data_rights import held_back
from handlers.flow import begin
from handlers.menu import show_menu
from handlers.onboarding import ONBOARDING
from handlers.registry import REGISTRY

SCAN = "scan"  # what a registration started from a scan finishes with
_CHECK_IN_TRIES = 3


@REGISTRY.payload(f"{CHECKPOINT_KIND}_")
async def scan_link(ctx: Context, token: str) -> None:
    """A poster's Telegram deep link."""
    checkpoint = await checkpoint_of_token(ctx, token)
    if checkpoint is not None:
        await scan_or_register(ctx, checkpoint)


@REGISTRY.code(CODE_PREFIX)
async def scan_code(ctx: Context, code: str) -> bool:
    """A poster's code typed on Zalo; False when no checkpoint has it."""
    checkpoint = await ctx.services.checkpoints.by_code(code)
    if checkpoint is None:
        return False
    if checkpoint.retired:
        await ctx.say("scan.retired")
    else:
        await scan_or_register(ctx, checkpoint)
    return True


@REGISTRY.code(CODE_PREFIX)
async def card_code(ctx: Context, code: str) -> bool:
    """A personal card's code typed at a gate; False when no card has it."""
    card = await ctx.services.cards.by_code(code)
    if card is None:
        return False
    await _card_at_gate(ctx, card)
    return True


async def _card_at_gate(ctx: Context, card: Card) -> None:
    """Record the card holder's scan at the checkpoint this staff account keeps."""
    staff = await ctx.staff_member()
    gate = await ctx.services.checkpoints.get(staff.gate) if staff and staff.gate else None
    if gate is None or gate.retired:  # a resident (or staff away from a gate) sent a card
        await ctx.say("scan.card_not_gate")
        return
    if withdrawn(await ctx.services.people.get(card.person_id)):
        await ctx.say("withdraw.card_refused")
        return
    await scan(ctx, gate, card.person_id)


async def scan_photo(ctx: Context) -> bool:
    """A photo of a poster or, at a gate, of a personal card: True when it held one's QR
    code (and was answered)."""
    photo, now = ctx.incoming.photo, ctx.services.clock.now()
    limit = ctx.services.policy.selfie_max_bytes
    if ctx.incoming.kind is not Kind.PHOTO or photo is None:
        return False
    if photo.size is not None and photo.size > limit:
        return False
    try:
        data = await photo.download()
    except (TooLarge, ChannelError):
        return False
    texts = await asyncio.to_thread(read_qr, data)
    cards = [claim for text in texts if (claim := card_in_qr(ctx.services.keys, text, now))]
    if cards and (card := await ctx.services.cards.get(cards[0].id)):
        await _card_at_gate(ctx, card)
        return True
    tokens = [token for text in texts if (token := token_in_qr(text))]
    if not tokens:
        return False
    checkpoint = await checkpoint_of_token(ctx, tokens[0])
    if checkpoint is not None:
        await scan_or_register(ctx, checkpoint)
    return True


async def checkpoint_of_token(ctx: Context, token: str) -> Checkpoint | None:
    """The live checkpoint a scanned token names; None (user told why) when refused."""
    services, now = ctx.services, ctx.services.clock.now()
    try:
        claim = read_checkpoint_token(services.keys, token, now)
        checkpoint = await services.checkpoints.get(claim.id)
        if checkpoint is None:
            raise InvalidToken("forged")
        verify_checkpoint(services.keys, token, checkpoint, now)
    except InvalidToken as refused:
        await ctx.say(f"scan.{refused.reason}")
        return None
    return checkpoint


async def scan_or_register(ctx: Context, checkpoint: Checkpoint) -> None:
    """Record the scan, or register the user first and record it then (not after they
    withdrew their consent)."""
    if ctx.account is not None:
        if not await held_back(ctx):
            await scan(ctx, checkpoint)
        return
    await ctx.say("scan.register_first", place=await place_name(ctx, checkpoint))
    await begin(ctx, ONBOARDING, data={"then": f"{SCAN}:{checkpoint.id}"})


@REGISTRY.continuation(SCAN)
async def scan_after_signup(ctx: Context, checkpoint_id: str) -> None:
    """The scan a new user came with, now that they are registered."""
    checkpoint = await ctx.services.checkpoints.get(checkpoint_id)
    if checkpoint is None or checkpoint.retired:
        await ctx.say("scan.retired")
        await show_menu(ctx)
    else:
        await scan(ctx, checkpoint)


async def scan(ctx: Context, checkpoint: Checkpoint, card_holder: str = "") -> None:
    """One scan: check in, or out when the person is in at this checkpoint. The person is
    the user, or the holder of a personal card a gate account scanned.

    A second scan within `double_tap` repeats the receipt of the first. Records take ids from
    the update, so an update run again after a crash gives the same receipt.
    """
    assert ctx.account is not None or card_holder
    services, now = ctx.services, ctx.services.clock.now()
    person_id = card_holder or (ctx.account.person_id if ctx.account else "")
    rules = services.policy.visits
    if card_holder:
        await _for_card_holder(ctx, card_holder)
    current = await services.visits.open_visit(person_id)
    if current is not None and current.checkpoint_id == checkpoint.id:
        if current.id == _visit_id(ctx) or now - current.in_at < rules.double_tap:
            await _checked_in(ctx, checkpoint, current, None)
        else:
            closed = await services.visits.close(current, now, VisitEnd.SCAN, _closing(ctx))
            await _checked_out(ctx, checkpoint, closed or current)
        return
    left = None if current else await _just_left(ctx, person_id, checkpoint, now)
    if left is not None:
        await _checked_out(ctx, checkpoint, left)
        return
    visit = Visit(
        id=_visit_id(ctx),
        person_id=person_id,
        checkpoint_id=checkpoint.id,
        in_at=now,
        due_at=rules.due(checkpoint.kind, now),
    )
    moved = await _check_in(ctx, visit, current)
    await _checked_in(ctx, checkpoint, visit, moved)
    if not card_holder and await services.daily_checks.get(person_id, services.today()) is None:
        await ask_daily_check(ctx, checkpoint)


async def _for_card_holder(ctx: Context, person_id: str) -> None:
    """At a gate, say whose card it was (the receipt follows)."""
    person = await ctx.services.people.get(person_id)
    await ctx.say("scan.card_holder", name=person.name if person else "?")


async def _check_in(ctx: Context, visit: Visit, current: Visit | None) -> Visit | None:
    """Store the visit, closing the person's open one elsewhere first: that one, if any."""
    visits, moved, other = ctx.services.visits, None, current
    for _ in range(_CHECK_IN_TRIES):
        if other is not None and other.id != visit.id:  # checked in elsewhere: that ends now
            moved = await visits.close(other, visit.in_at, VisitEnd.ELSEWHERE) or moved
        if await visits.check_in(visit) is not None:
            return moved
        other = await visits.open_visit(visit.person_id)  # a gate recorded them meanwhile
    raise RuntimeError(f"visit {visit.id} could not be checked in")


async def _just_left(
    ctx: Context, person_id: str, checkpoint: Checkpoint, now: datetime
) -> Visit | None:
    """The visit at this checkpoint the person scanned out of a moment ago (or in this very
    update, run again), if any."""
    rules = ctx.services.policy.visits
    for visit in await ctx.services.visits.of_person(person_id, now - rules.longest):
        if visit.checkpoint_id != checkpoint.id or visit.closed != VisitEnd.SCAN:
            continue
        if visit.closed_by == _closing(ctx) or (
            visit.out_at is not None and now - visit.out_at < rules.double_tap
        ):
            return visit
    return None


def _visit_id(ctx: Context) -> str:
    return ctx.new_id("visit", 24)


def _closing(ctx: Context) -> str:
    """What a visit closed by this update records, to recognise the update run again."""
    return ctx.new_id("visit-out", 24)


async def place_name(ctx: Context, checkpoint: Checkpoint) -> str:
    """ "Nhà ăn ca 1 — Công ty TNHH May mặc Tân Hà": the checkpoint and its organisation."""
    org = await ctx.org(checkpoint.org_id)
    return (
        ctx.text("scan.place", checkpoint=checkpoint.name, org=org.name) if org else checkpoint.name
    )


async def _checked_in(
    ctx: Context, checkpoint: Checkpoint, visit: Visit, moved: Visit | None
) -> None:
    lines = [
        ctx.text(
            "scan.checked_in",
            place=await place_name(ctx, checkpoint),
            time=ctx.local_time(visit.in_at),
        )
    ]
    if moved is not None:
        left = await ctx.services.checkpoints.get(moved.checkpoint_id)
        name = await place_name(ctx, left) if left else "?"
        lines.append(ctx.text("scan.left_elsewhere", place=name))
    lines.append(ctx.text("scan.remember_out"))
    await ctx.send("\n".join(lines))


async def _checked_out(ctx: Context, checkpoint: Checkpoint, visit: Visit) -> None:
    out_at = visit.out_at or ctx.services.clock.now()
    await ctx.say(
        "scan.checked_out",
        place=await place_name(ctx, checkpoint),
        start=ctx.local_time(visit.in_at),
        end=ctx.local_time(out_at),
        duration=duration_text(ctx, out_at - visit.in_at),
    )


def duration_text(ctx: Context, length: timedelta) -> str:
    """A stay's length in hours and minutes ("1 giờ 25 phút")."""
    minutes = max(0, int(length.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    if hours:
        return ctx.text("scan.hours_minutes", hours=hours, minutes=minutes)
    return ctx.text("scan.minutes", minutes=minutes)
