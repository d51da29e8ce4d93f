"""Multi-step conversations: each step asks a question and takes the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

from core.channel import Button
from handlers.context import Context

END = "__end__"


@dataclass(frozen=True)
class Step:
    """`ask` sends the question; `take` handles the answer and names the next step.

    `take` returns the next step, END to finish the flow, or None to stay on this step
    (it has already told the user what was wrong).
    """

    ask: Callable[[Context], Awaitable[None]]
    take: Callable[[Context], Awaitable[str | None]]


@dataclass(frozen=True)
class Flow:
    """A named sequence of steps; the first one is where `begin` starts.

    Defining a flow registers it by name, so a conversation stored in the database can
    continue in any process. A `staff` flow can also be answered in a staff group chat.
    """

    name: str
    steps: Mapping[str, Step]
    first: str
    staff: bool = False

    def __post_init__(self) -> None:
        _FLOWS[self.name] = self


_FLOWS: dict[str, Flow] = {}


def flow_named(name: str) -> Flow | None:
    """The registered flow with this name (None for an unknown or retired flow)."""
    return _FLOWS.get(name)


async def begin(
    ctx: Context, flow: Flow, data: dict[str, object] | None = None, step: str | None = None
) -> None:
    """Start `flow` (at its first step, or `step`), dropping any flow in progress."""
    ctx.conversation.data = {**({"lang": ctx.lang} if ctx.account is None else {}), **(data or {})}
    await enter(ctx, flow, step or flow.first)


async def enter(ctx: Context, flow: Flow, step: str) -> None:
    """Move to `step` and ask its question."""
    ctx.conversation.flow, ctx.conversation.step = flow.name, step
    ctx.conversation.options = []
    await flow.steps[step].ask(ctx)


async def ask_again(ctx: Context) -> None:
    """Repeat the current step's question (after a help text or a language change)."""
    flow = flow_named(ctx.conversation.flow)
    if flow is not None:
        await enter(ctx, flow, ctx.conversation.step)


async def resume(ctx: Context, flow: Flow) -> None:
    """Feed the update to the current step and move on as it says."""
    following = await flow.steps[ctx.conversation.step].take(ctx)
    if following == END:
        if ctx.conversation.flow == flow.name:  # not handed to another flow
            finish(ctx)
    elif following is not None:
        await enter(ctx, flow, following)


def finish(ctx: Context) -> None:
    """Leave the current flow (the language chosen before registering is kept)."""
    lang = ctx.conversation.data.get("lang")
    ctx.conversation.flow = ctx.conversation.step = ""
    ctx.conversation.data = {"lang": lang} if lang and ctx.account is None else {}


def yes_no(ctx: Context) -> list[list[Button]]:
    """The «Có» / «Không» buttons."""
    return [[Button(ctx.text("common.yes"), "yes"), Button(ctx.text("common.no"), "no")]]


def yes_no_step(section: str, question: str, following: str, if_yes: str | None = None) -> Step:
    """A yes/no question (the text `section.question`), its answer kept in the flow's
    "answers" under the question's name."""

    async def ask(ctx: Context) -> None:
        await ctx.say(f"{section}.{question}", buttons=yes_no(ctx))

    async def take(ctx: Context) -> str | None:
        if ctx.choice not in ("yes", "no"):
            await ctx.choose_again()
            return None
        answers = ctx.conversation.data.setdefault("answers", {})
        answers[question] = ctx.choice == "yes"
        return if_yes if if_yes and ctx.choice == "yes" else following

    return Step(ask, take)


AREA = "area:"  # a commune button's data: "area:<code>"


def commune_buttons(ctx: Context, skip: Collection[str] = ()) -> list[list[Button]]:
    """The district's communes (but those in `skip`), two per row."""
    offered = [
        Button(area.name, f"{AREA}{area.code}")
        for area in ctx.services.areas.areas
        if area.code not in skip
    ]
    return [offered[i : i + 2] for i in range(0, len(offered), 2)]


def commune_step(question: str, following: str | Callable[[Context], str]) -> Step:
    """Ask for a commune among buttons (the text `question`), kept in the flow's "area"."""

    async def ask(ctx: Context) -> None:
        await ctx.say(question, buttons=commune_buttons(ctx))

    async def take(ctx: Context) -> str | None:
        code = ctx.choice.removeprefix(AREA)
        if not ctx.choice.startswith(AREA) or ctx.services.areas.get(code) is None:
            await ctx.choose_again()
            return None
        ctx.conversation.data["area"] = code
        return following(ctx) if callable(following) else following

    return Step(ask, take)
