"""Citizens' field reports («Phản ánh»): what, a text, photos, where, anonymity, then a
numbered ticket that reaches the commune's staff.

Registered residents report from their commune (on Telegram they may share where they
are); anyone else, and everyone on Zalo (whose bots receive no locations), names the
commune. The ticket is stored before the receipt and its notices are keyed by the report,
so an update processed again neither numbers nor notifies twice.
"""

from __future__ import annotations

from core.areas import in_sentence
from core.channel import Button, Kind, Platform
from core.models import FieldReport, Person, ReportCategory, report_photo_owner
from handlers.context import Context
from handlers.data_rights import held_back
from handlers.flow import END, Flow, Step, begin, commune_step, yes_no_step
from handlers.limits import HOUR
from handlers.location import SKIP, ask_shared_location
from handlers.menu import show_menu
from handlers.photos import downloaded_photo
from handlers.registry import REGISTRY
from handlers.report_notices import tell_commune

MAX_TEXT = 2000
MAX_PHOTOS = 3
REPORTS_PER_HOUR = 5  # per chat account: enough for a witness, too few to flood a commune
CATEGORY = "rcat:"
PHOTOS_DONE = "rphotos:done"
SEND, DISCARD = "rsend:yes", "rsend:no"


@REGISTRY.command("phananh", "feedback")
async def start_report(ctx: Context) -> None:
    """/phananh: report something to the commune's staff (not after withdrawing consent)."""
    if await held_back(ctx) or await _too_many(ctx):
        return
    await begin(ctx, FIELD_REPORT, data={"report": ctx.new_id("report")})


async def _too_many(ctx: Context) -> bool:
    """Whether this account sent its hour's reports already (then it is told so)."""
    if await ctx.services.attempts.count(_flood_key(ctx), HOUR) < REPORTS_PER_HOUR:
        return False
    await ctx.say("reports.too_many", max=REPORTS_PER_HOUR)
    return True


def _flood_key(ctx: Context) -> str:
    return f"report:{ctx.actor}"


async def ask_category(ctx: Context) -> None:
    """The three kinds of report."""
    buttons = [
        [Button(ctx.text(f"reports.category_{kind.value}"), f"{CATEGORY}{kind.value}")]
        for kind in ReportCategory
    ]
    await ctx.say("reports.ask_category", buttons)


async def take_category(ctx: Context) -> str | None:
    """One of the offered kinds."""
    if not ctx.choice.startswith(CATEGORY):
        await ctx.choose_again()
        return None
    ctx.conversation.data["category"] = ctx.choice.removeprefix(CATEGORY)
    return "text"


async def ask_text(ctx: Context) -> None:
    """What happened, in words."""
    await ctx.say("reports.ask_text", max=MAX_TEXT)


async def typed_text(ctx: Context) -> str | None:
    """The update's text if it is one of at most MAX_TEXT characters; else None (user told)."""
    text = ctx.incoming.text.strip() if ctx.incoming.kind is Kind.TEXT else ""
    if not text:
        await ctx.say("reports.text_expected")
        return None
    if len(text) > MAX_TEXT:
        await ctx.say("reports.text_too_long", length=len(text), max=MAX_TEXT)
        return None
    return text


async def take_text(ctx: Context) -> str | None:
    """Keep the description."""
    text = await typed_text(ctx)
    if text is None:
        return None
    ctx.conversation.data["text"] = text
    return "photos"


def _photo_ids(ctx: Context) -> list[str]:
    return [str(photo_id) for photo_id in ctx.conversation.data.get("photos", [])]


def _photos_button(ctx: Context) -> list[list[Button]]:
    label = "reports.photos_done" if _photo_ids(ctx) else "reports.no_photos"
    return [[Button(ctx.text(label), PHOTOS_DONE)]]


async def ask_photos(ctx: Context) -> None:
    """Up to three photos, or none."""
    await ctx.say("reports.ask_photos", _photos_button(ctx), max=MAX_PHOTOS)


async def take_photo(ctx: Context) -> str | None:
    """A photo (normalised and stored at once) or the end of the photos."""
    if ctx.choice == PHOTOS_DONE:
        return _after_photos(ctx)
    photo = ctx.incoming.photo
    if ctx.incoming.kind is not Kind.PHOTO or photo is None:
        await ctx.say("reports.photo_expected", _photos_button(ctx))
        return None
    normalised = await downloaded_photo(ctx, photo, too_small="reports.photo_too_small")
    if normalised is None:
        return None
    photo_id = ctx.new_id("report-photo")
    await ctx.services.photos.put(
        photo_id, normalised.jpeg, report_photo_owner(ctx.incoming.platform, ctx.incoming.user_id)
    )
    photos = list(dict.fromkeys([*_photo_ids(ctx), photo_id]))  # the same update run again
    ctx.conversation.data["photos"] = photos
    if len(photos) >= MAX_PHOTOS:
        return _after_photos(ctx)
    await ctx.say("reports.photo_received", _photos_button(ctx), count=len(photos), max=MAX_PHOTOS)
    return None


def _after_photos(ctx: Context) -> str:
    """Telegram can share where the user is; Zalo bots receive no locations."""
    return "location" if ctx.incoming.platform is Platform.TELEGRAM else "area"


async def ask_location(ctx: Context) -> None:
    """The share-location key, or skip."""
    skip = [Button(ctx.text("location.skip"), SKIP)]
    await ask_shared_location(ctx, ctx.text("reports.ask_location"), skip)


async def take_location(ctx: Context) -> str | None:
    """A shared position, or the skip; registered users report from their commune."""
    where = ctx.incoming.location
    if ctx.choice != SKIP and (ctx.incoming.kind is not Kind.LOCATION or where is None):
        await ask_location(ctx)
        return None
    if where is not None:
        ctx.conversation.data["location"] = list(where)
        await ctx.say("reports.location_received")
    return "anonymous" if ctx.account else "area"


async def _person(ctx: Context) -> Person | None:
    return await ctx.services.people.get(ctx.account.person_id) if ctx.account else None


async def _area(ctx: Context) -> str:
    """The commune the user named, else their home commune."""
    person = await _person(ctx)
    return str(ctx.conversation.data.get("area") or (person.area if person else ""))


def _anonymous(ctx: Context) -> bool:
    return bool(ctx.conversation.data.get("answers", {}).get("ask_anonymous"))


async def ask_confirm(ctx: Context) -> None:
    """The report as it will be sent, to check."""
    data = ctx.conversation.data
    photos = len(_photo_ids(ctx))
    summary = ctx.text(
        "reports.confirm",
        category=ctx.text(f"reports.category_{data['category']}"),
        area=ctx.services.areas.name(await _area(ctx)),
        located=ctx.text("reports.located") if data.get("location") else "",
        text=data["text"],
        photos=ctx.text("reports.photos_count", count=photos)
        if photos
        else ctx.text("reports.photos_none"),
        anonymity=ctx.text("reports.anonymous_yes" if _anonymous(ctx) else "reports.anonymous_no"),
    )
    buttons = [
        [Button(ctx.text("reports.send"), SEND), Button(ctx.text("reports.discard"), DISCARD)]
    ]
    await ctx.send(summary, buttons)


async def take_confirm(ctx: Context) -> str | None:
    """Send, or drop, the report."""
    if ctx.choice not in (SEND, DISCARD):
        await ctx.choose_again()
        return None
    if ctx.choice == DISCARD:
        await ctx.services.photos.delete(_photo_ids(ctx))  # a dropped report keeps no photo
        await _after(ctx, ctx.text("reports.discarded"))
        return END
    report = await ctx.services.reports.get(str(ctx.conversation.data["report"]))
    if report is None:  # not stored by an earlier run of this update
        if await _too_many(ctx):
            return END
        report, created = await ctx.services.reports.add(await _drafted(ctx))
        if created:
            await ctx.services.attempts.hit(_flood_key(ctx), HOUR)
    await tell_commune(ctx.services, report)
    area = in_sentence(ctx.services.areas.name(report.area))
    await _after(ctx, ctx.text("reports.received", number=report.number, area=area))
    return END


async def _drafted(ctx: Context) -> FieldReport:
    """The report the flow collected (numbered when stored)."""
    data, incoming, now = ctx.conversation.data, ctx.incoming, ctx.services.clock.now()
    person = await _person(ctx)
    lat, lon = data.get("location") or (None, None)
    return FieldReport(
        id=str(data["report"]),
        number=0,
        platform=incoming.platform,
        user_id=incoming.user_id,
        chat_id=incoming.chat_id,
        person_id=person.id if person else "",
        voice=ctx.voice,
        name=person.name if person else incoming.display_name,
        phone=person.phone if person else "",
        anonymous=_anonymous(ctx),
        area=await _area(ctx),
        category=ReportCategory(data["category"]),
        text=str(data["text"]),
        photos=_photo_ids(ctx),
        lat=lat,
        lon=lon,
        created_at=now,
        waiting_since=now,
    )


async def _after(ctx: Context, lead: str) -> None:
    """The last word, with the main menu for registered users."""
    if ctx.account:
        await show_menu(ctx, lead)
    else:
        await ctx.send(lead)


FIELD_REPORT = Flow(
    name="field_report",
    first="category",
    steps={
        "category": Step(ask_category, take_category),
        "text": Step(ask_text, take_text),
        "photos": Step(ask_photos, take_photo),
        "location": Step(ask_location, take_location),
        "area": commune_step("reports.ask_area", "anonymous"),
        "anonymous": yes_no_step("reports", "ask_anonymous", "confirm"),
        "confirm": Step(ask_confirm, take_confirm),
    },
)
