"""Confirming the quarantine place: a one-tap position with each declaration, compared with
the home position an officer gave or the resident's first one (which staff then confirm).

Telegram asks with its share-location key; Zalo delivers no locations to bots, so a Zalo
resident gets a one-time link to a small page of ours that reads the phone's position.
"""

from __future__ import annotations

from datetime import timedelta

from core.channel import Ask, Button, Kind, Platform
from core.geo import Check, Point, at_home, distance_m, parse_point
from core.models import Case, CaseStatus, Declaration, DeclaredLocation, Home
from core.texts import decimal
from handlers.context import Context, Services
from handlers.flow import Step
from handlers.page_links import Holder, LinkTarget, PageLinks
from handlers.registry import REGISTRY
from handlers.staff import authorize_case

LINK_KIND = "vitri"
LINK_TTL = timedelta(minutes=30)
SKIP = "location:skip"


async def _holders(services: Services, link_id: str) -> list[Holder]:
    """The accounts declaring for the active case a link id names (by number): its person's
    and their proxies'."""
    case = await services.cases.by_number(int(link_id[:8], 16))
    if case is None or case.status is not CaseStatus.ACTIVE:
        return []
    accounts = await services.accounts.of_people([case.person_id, *case.proxies])
    return [Holder(a.platform, a.user_id, a.chat_id, a.language) for a in accounts]


LINKS = PageLinks(LINK_KIND, "location_link", LINK_TTL, _holders)


async def _declaring_for(ctx: Context) -> Case | None:
    """The case of the declaration in progress (the user's own, or one they are proxy for)."""
    chosen = ctx.conversation.data.get("case")
    return next((c for c in await ctx.cases_to_declare() if c.id == chosen), None)


async def _mode(ctx: Context) -> Check:
    case = await _declaring_for(ctx)
    return ctx.services.policy.location.mode_for(case.area) if case else Check.OFF


def _settled(ctx: Context) -> bool:
    """The resident gave a position or skipped for this declaration."""
    data = ctx.conversation.data
    return "location" in data or bool(data.get("location_skipped"))


async def ask_with_selfie(ctx: Context, question: str) -> None:
    """The selfie question, with the one-tap location request unless off or settled."""
    mode = await _mode(ctx)
    if mode is Check.OFF or _settled(ctx):
        await ctx.send(question)
    else:
        await _ask(ctx, question, mode)


async def ask_alone(ctx: Context) -> None:
    """Only the location, the last step when the selfie came first (skippable unless required)."""
    await _ask(ctx, ctx.text("location.required_after"), await _mode(ctx))


async def _ask(ctx: Context, lead: str, mode: Check) -> None:
    skip = [Button(ctx.text("location.skip"), SKIP)] if mode is Check.ASK else []
    if ctx.incoming.platform is Platform.TELEGRAM:
        await ask_shared_location(ctx, f"{lead}\n\n{ctx.text('location.ask_telegram')}", skip)
        return
    link = await _new_link(ctx)
    minutes = LINK_TTL // timedelta(minutes=1)
    text = ctx.text("location.ask_zalo", link=link, minutes=minutes)
    await ctx.send(f"{lead}\n\n{text}", [[b] for b in skip])


async def ask_shared_location(ctx: Context, text: str, skip: list[Button]) -> None:
    """Telegram's share-location key, with the `skip` keys (none when it is required)."""
    share = Button(ctx.text("location.share"), "")
    await ctx.send(text, [[share], *([b] for b in skip)], Ask.LOCATION)
    # The skip key sends its label as text: accept it as the choice it stands for.
    ctx.conversation.options = skip


async def _new_link(ctx: Context) -> str:
    """A one-time page link for this declaration (its id names the case by number)."""
    case = await _declaring_for(ctx)
    assert case is not None  # asked only within a declaration
    return LINKS.new(ctx, f"{case.number:08x}{ctx.new_id('location-link', 4)}")


async def refused_without(ctx: Context) -> bool:
    """A selfie sent while a required position is missing: ask for the position (True)."""
    if not await needed(ctx):
        return False
    await _ask(ctx, ctx.text("location.required_first"), Check.REQUIRE)
    return True


async def needed(ctx: Context) -> bool:
    """The commune requires a position and none was given yet."""
    return not _settled(ctx) and await _mode(ctx) is Check.REQUIRE


async def still_to_offer(ctx: Context) -> bool:
    """The commune checks positions and this declaration has none yet (nor a skip)."""
    return not _settled(ctx) and await _mode(ctx) is not Check.OFF


async def answered(ctx: Context) -> bool:
    """The update is a position or the skip: kept for the declaration (True).

    The selfie is asked for next, unless it came first (then the declaration completes).
    """
    data = ctx.conversation.data
    if ctx.choice == SKIP:
        data["location_skipped"] = True
    elif ctx.incoming.kind is Kind.LOCATION and ctx.incoming.location:
        lat, lon = ctx.incoming.location
        accuracy = ctx.incoming.accuracy
        data["location"] = {"lat": lat, "lon": lon, "accuracy": accuracy}
    else:
        return False
    data.pop(LINKS.key, None)
    if "selfie" not in data:
        key = "location.skipped" if data.get("location_skipped") else "location.received"
        await ctx.say(key)
    return True


async def checked(ctx: Context, case: Case) -> DeclaredLocation | None:
    """The position given for this declaration, compared with home; with no home yet it is
    proposed as the home, for staff to confirm."""
    given = ctx.conversation.data.get("location")
    if not given:
        return None
    here = Point(float(given["lat"]), float(given["lon"]))
    accuracy = None if given.get("accuracy") is None else float(given["accuracy"])
    if case.home is None:
        now = ctx.services.clock.now()
        proposal = Home(lat=here.lat, lon=here.lon, source="resident", at=now)
        await ctx.services.cases.set_home(case.id, proposal, first=True)
        return DeclaredLocation(lat=here.lat, lon=here.lon, accuracy=accuracy)
    home = Point(case.home.lat, case.home.lon)
    radius = ctx.services.policy.location.radius_m
    return DeclaredLocation(
        lat=here.lat,
        lon=here.lon,
        accuracy=accuracy,
        distance_m=round(distance_m(home, here)),
        at_home=at_home(home, here, radius, accuracy),
    )


def receipt_line(ctx: Context, declaration: Declaration) -> str | None:
    """The receipt's line about the position: at home, how far away, or proposed as home."""
    place = declaration.location
    if place is None:
        return None
    if place.at_home is None or place.distance_m is None:
        return ctx.text("location.proposed")
    if place.at_home:
        return ctx.text("location.at_home")
    return ctx.text("location.away", distance=distance_text(ctx.lang, place.distance_m))


def distance_text(lang: str, metres: float) -> str:
    """ "350 m" under a kilometre (to 10 m), else "1,2 km" (one decimal)."""
    if metres < 1000:
        return f"{round(metres, -1):.0f} m"
    return f"{decimal(lang, metres / 1000)} km"


async def link_target(services: Services, token: str) -> LinkTarget | None:
    """The account a page link is for, while its declaration still waits for a position."""
    return await LINKS.target(services, token)


async def use_link(services: Services, token: str) -> LinkTarget | None:
    """The account of a link used for the first time; None when forged, stale or used."""
    return await LINKS.use(services, token)


def home_pin_step(following: str) -> Step:
    """Enrolment: the home position if known (shared or typed "10.776, 106.700"), or skip."""

    async def ask(ctx: Context) -> None:
        await ctx.say("location.home_pin", [[Button(ctx.text("location.skip"), SKIP)]])

    async def take(ctx: Context) -> str | None:
        if ctx.choice != SKIP:
            point = _typed_or_shared(ctx)
            if point is None:
                await ctx.say("location.home_pin_invalid")
                return None
            ctx.conversation.data["home"] = {"lat": point.lat, "lon": point.lon}
            await ctx.say("location.home_pin_saved", lat=f"{point.lat:.5f}", lon=f"{point.lon:.5f}")
        return following

    return Step(ask, take)


def enrolled_home(ctx: Context) -> Home | None:
    """The home position the officer gave during enrolment, if any."""
    pin = ctx.conversation.data.get("home")
    return _officer_home(ctx, Point(float(pin["lat"]), float(pin["lon"]))) if pin else None


def _typed_or_shared(ctx: Context) -> Point | None:
    where = ctx.incoming.location
    if where is None:
        return parse_point(ctx.incoming.text)
    try:
        return Point(*where)
    except ValueError:
        return None


def _officer_home(ctx: Context, point: Point) -> Home:
    now = ctx.services.clock.now()
    return Home(lat=point.lat, lon=point.lon, source="officer", confirmed=True, at=now)


@REGISTRY.command("home", "noicachly", staff=True)
async def home_command(ctx: Context) -> None:
    """/home N ok confirms the home the resident proposed; /home N 10.776, 106.700 sets it."""
    number, _, rest = ctx.incoming.payload.partition(" ")
    point = parse_point(rest)
    confirm = rest.strip().casefold() == "ok"
    if not number.isdigit() or not (confirm or point):
        await ctx.say("location.home_usage")
        return
    case = await authorize_case(ctx, "case.update", number)
    if case is None:
        return
    homes = ctx.services.cases
    if point is not None:
        changed = await homes.set_home(case.id, _officer_home(ctx, point))
    else:
        changed = await homes.confirm_home(case.id)
    key = "location.home_set" if changed else "location.home_none"
    await ctx.say(key, number=case.number)
