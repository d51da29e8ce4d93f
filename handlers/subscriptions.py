"""Which communes' alerts a chat gets: the home commune by default, more on request, ordinary
alerts muted if wished (emergency ones always come); also for people who never register."""

from __future__ import annotations

from core.areas import Area, in_sentence
from core.channel import Button, Kind
from core.models import Subscriber
from handlers.context import Context
from handlers.data_rights import held_back
from handlers.flow import AREA, END, Flow, Step, begin, commune_buttons, finish
from handlers.menu import show_menu
from handlers.registry import REGISTRY

LINK_KIND = "tb"  # `/start tb_<commune code>`: a printed link that subscribes in one tap
COMMAND = "thongbao"
ADD, BACK, MUTE, UNMUTE, DROP = "sub:add", "sub:back", "sub:mute", "sub:unmute", "sub:drop:"


def alerts_only_button(ctx: Context) -> list[Button]:
    """The button that subscribes someone to a commune's alerts without registering."""
    return [Button(ctx.text("subscriptions.alerts_only"), f"menu:{COMMAND}")]


async def follow_area(ctx: Context, area: str) -> None:
    """Subscribe this chat to an area's alerts (a second time changes nothing)."""
    await ctx.services.subscribers.subscribe(
        Subscriber(
            platform=ctx.incoming.platform,
            user_id=ctx.incoming.user_id,
            chat_id=ctx.incoming.chat_id,
            areas=[area],
            language=ctx.lang,
            person_id=ctx.account.person_id if ctx.account else "",
            created_at=ctx.services.clock.now(),
        )
    )


async def _subscription(ctx: Context) -> Subscriber | None:
    return await ctx.services.subscribers.get(ctx.incoming.platform, ctx.incoming.user_id)


def _followed(subscriber: Subscriber | None) -> list[str]:
    return subscriber.areas if subscriber else []


@REGISTRY.command(COMMAND, "subscribe")
async def open_subscriptions(ctx: Context) -> None:
    """/thongbao: what this chat gets alerts for, to change; someone who is neither registered
    nor subscribed picks a commune straight away. Who withdrew consent gets no alerts."""
    if await held_back(ctx):
        return
    known = ctx.account is not None or await _subscription(ctx) is not None
    await begin(ctx, SUBSCRIPTIONS, step="overview" if known else "add")


@REGISTRY.command("stop", "ngungnhan")
async def stop(ctx: Context) -> None:
    """/ngungnhan: forget an unregistered chat's subscription; registered people get the
    overview, where they can drop communes or mute."""
    if ctx.account is not None:
        lead = ctx.text("subscriptions.stop_registered")
        await begin(ctx, SUBSCRIPTIONS, {"lead": lead}, step="overview")
        return
    if ctx.conversation.flow == SUBSCRIPTIONS.name:
        finish(ctx)
    if await _subscription(ctx) is None:
        await ctx.say("subscriptions.not_subscribed")
        return
    await ctx.services.subscribers.remove(ctx.incoming.platform, ctx.incoming.user_id)
    await ctx.say("subscriptions.stopped")


@REGISTRY.payload(f"{LINK_KIND}_")
async def subscribe_by_link(ctx: Context, code: str) -> None:
    """`/start tb_<code>`: subscribe to that commune in a single tap."""
    if await held_back(ctx):
        return
    area = ctx.services.areas.find(code)
    if area is None:
        await ctx.say("subscriptions.link_unknown")
        return
    await follow_area(ctx, area.code)
    await _receipt(ctx, area)


async def _receipt(ctx: Context, area: Area) -> None:
    """Registered people go back to their menu; others learn how to stop and to register."""
    if ctx.account is not None:
        await show_menu(ctx, ctx.text("subscriptions.added", area=in_sentence(area.name)))
    else:
        await ctx.say("subscriptions.receipt", area=in_sentence(area.name))


def _status(ctx: Context, subscriber: Subscriber | None) -> str:
    """The communes followed, and whether ordinary alerts come too."""
    if subscriber is None or not subscriber.areas:
        return ctx.text("subscriptions.no_areas")
    lines = "\n".join(f"• {ctx.services.areas.name(code)}" for code in subscriber.areas)
    state = ctx.text(f"subscriptions.state_{'muted' if subscriber.muted else 'all'}")
    return f"{ctx.text('subscriptions.areas', areas=lines)}\n\n{state}"


def _overview_buttons(ctx: Context, subscriber: Subscriber | None) -> list[list[Button]]:
    """Add, drop each commune, mute or unmute, leave."""
    buttons = [[Button(ctx.text("subscriptions.add"), ADD)]]
    for code in _followed(subscriber):
        name = in_sentence(ctx.services.areas.name(code))
        buttons.append([Button(ctx.text("subscriptions.drop", area=name), f"{DROP}{code}")])
    if subscriber is not None:
        key, data = ("unmute", UNMUTE) if subscriber.muted else ("mute", MUTE)
        buttons.append([Button(ctx.text(f"subscriptions.{key}"), data)])
    leave = "back_menu" if ctx.account else "done"
    return [*buttons, [Button(ctx.text(f"subscriptions.{leave}"), BACK)]]


async def ask_overview(ctx: Context) -> None:
    """The communes followed and whether ordinary alerts are muted, after what just changed."""
    subscriber = await _subscription(ctx)
    text = ctx.text("subscriptions.overview", status=_status(ctx, subscriber))
    lead = str(ctx.conversation.data.pop("lead", ""))
    await ctx.send(f"{lead}\n\n{text}" if lead else text, _overview_buttons(ctx, subscriber))


def _then_overview(ctx: Context, key: str, **values: object) -> str:
    """Show the overview again, led by what was done."""
    ctx.conversation.data["lead"] = ctx.text(key, **values)
    return "overview"


async def take_overview(ctx: Context) -> str | None:
    """Add, drop, mute, unmute or leave."""
    subscribers, who = ctx.services.subscribers, (ctx.incoming.platform, ctx.incoming.user_id)
    if ctx.choice == ADD:
        return "add"
    if ctx.choice == BACK:
        return await _leave(ctx)
    if ctx.choice in (MUTE, UNMUTE):
        muted = ctx.choice == MUTE
        await subscribers.set_muted(*who, muted)
        return _then_overview(ctx, f"subscriptions.{'muted' if muted else 'unmuted'}")
    if ctx.choice.startswith(DROP):
        code = ctx.choice.removeprefix(DROP)
        await subscribers.unsubscribe(*who, code)
        name = in_sentence(ctx.services.areas.name(code))
        return _then_overview(ctx, "subscriptions.dropped", area=name)
    await ctx.choose_again()
    return None


async def _leave(ctx: Context) -> str:
    if ctx.account is not None:
        await show_menu(ctx)
    else:
        await ctx.say("subscriptions.closed")
    return END


def _area_buttons(ctx: Context, followed: list[str]) -> list[list[Button]]:
    """The communes not followed yet, two per row, then the way back."""
    return [*commune_buttons(ctx, followed), [Button(ctx.text("subscriptions.back"), BACK)]]


async def ask_add(ctx: Context) -> None:
    """Offer the communes to add, or to start with for someone not subscribed yet."""
    subscriber = await _subscription(ctx)
    first = ctx.account is None and subscriber is None
    key = "subscriptions.choose_first" if first else "subscriptions.choose"
    await ctx.say(key, buttons=_area_buttons(ctx, _followed(subscriber)))


def _chosen_area(ctx: Context) -> Area | None:
    """A commune picked from the list, or typed by its name."""
    if ctx.choice.startswith(AREA):
        return ctx.services.areas.get(ctx.choice.removeprefix(AREA))
    return ctx.services.areas.find(ctx.incoming.text) if ctx.incoming.text.strip() else None


async def take_add(ctx: Context) -> str | None:
    """Follow the chosen commune; someone not registered gets a receipt saying how to stop."""
    subscriber = await _subscription(ctx)
    if ctx.choice == BACK:
        return "overview" if ctx.account or subscriber else await _leave(ctx)
    area = _chosen_area(ctx)
    if area is None:
        await _not_an_area(ctx, subscriber)
        return None
    await follow_area(ctx, area.code)
    if subscriber is None and ctx.account is None:
        await _receipt(ctx, area)
        return END
    if area.code in _followed(subscriber):
        return _then_overview(ctx, "subscriptions.already", area=area.name)
    return _then_overview(ctx, "subscriptions.added", area=in_sentence(area.name))


async def _not_an_area(ctx: Context, subscriber: Subscriber | None) -> None:
    """Say what was not understood, and offer the communes again."""
    if ctx.incoming.kind is not Kind.TEXT or not ctx.incoming.text.strip():
        await ctx.choose_again()
        return
    await ctx.say(
        "subscriptions.area_unknown",
        buttons=_area_buttons(ctx, _followed(subscriber)),
        typed=ctx.incoming.text.strip()[:80],
        district=in_sentence(ctx.services.areas.district),
    )


SUBSCRIPTIONS = Flow(
    name="subscriptions",
    first="overview",
    steps={"overview": Step(ask_overview, take_overview), "add": Step(ask_add, take_add)},
)
