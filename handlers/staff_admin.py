"""Running a team from the chat: /staff lists the staff within one's scope and takes rights
away (with a confirmation); /bindchat binds a staff group chat to communes, /unbindchat
undoes it."""

from __future__ import annotations

from core.areas import in_sentence
from core.channel import Button, Platform
from core.models import ChatRef, Role, Staff, StaffChat
from handlers.context import Context
from handlers.flow import END, Flow, Step, begin, yes_no
from handlers.registry import REGISTRY
from handlers.rights import covers_district, may, may_all, scope
from handlers.staff import authorize, person_name, scope_text
from handlers.staff_invites import start_invite

INVITE, REMOVE = "stf:invite", "stf:rm:"  # buttons: "stf:rm:<platform>:<user id>"
INVITE_WORDS = frozenset({"invite", "moi", "mời"})
REMOVE_WORDS = frozenset({"remove", "go", "gỡ"})


def _account(member: Staff) -> str:
    """A staff member's account as the audit trail names it."""
    return f"{member.platform.value}:{member.user_id}"


@REGISTRY.command("staff", "canbo", staff=True)
async def staff_command(ctx: Context) -> None:
    """/staff: the staff within my scope; /staff invite; /staff remove N."""
    words = ctx.incoming.payload.split()
    verb = words[0].casefold() if words else ""
    if verb in INVITE_WORDS:
        await start_invite(ctx)
    elif verb in REMOVE_WORDS:
        await _remove_numbered(ctx, words[1:])
    else:
        await _list(ctx)


@REGISTRY.action(INVITE, in_groups=True)
async def invite_button(ctx: Context) -> None:
    """The «invite new staff» button under the list."""
    await start_invite(ctx)


async def _member_areas(ctx: Context, member: Staff) -> list[str] | None:
    """The communes a staff member works in (an organisation's manager: their organisations'),
    None for the whole district."""
    if member.role is Role.ORG_MANAGER:
        orgs = [await ctx.org(org_id) for org_id in member.orgs]
        return [org.area for org in orgs if org is not None]
    return scope(member)


async def _covers(ctx: Context, manager: Staff, member: Staff) -> bool:
    """Whether a member is within the manager's scope: district-wide staff (admins among
    them) only for those who cover the district."""
    areas = await _member_areas(ctx, member)
    if areas is None:
        return covers_district(manager) and may(manager, "staff.manage")
    return may_all(manager, "staff.manage", areas)


async def _team(ctx: Context, manager: Staff) -> list[Staff]:
    """The staff within the manager's scope, in a stable order (the list's numbers)."""
    return [m for m in await ctx.services.staff.all() if await _covers(ctx, manager, m)]


async def _name(ctx: Context, member: Staff) -> str:
    return await person_name(ctx, member) or ctx.text("staff_list.no_name")


async def _list(ctx: Context) -> None:
    """The numbered list; on Telegram a button per member one may remove, and «invite»."""
    manager = await authorize(ctx, "staff.manage")
    if manager is None:
        return
    team = await _team(ctx, manager)
    lines = [ctx.text("staff_list.title", count=len(team))]
    buttons: list[list[Button]] = []
    if may(manager, "staff.invite"):
        buttons.append([Button(ctx.text("staff_list.invite_button"), INVITE)])
    for number, member in enumerate(team, 1):
        name = await _name(ctx, member)
        lines.append(
            ctx.text(
                "staff_list.line",
                number=number,
                name=name,
                role=ctx.text(f"roles.{member.role.value}"),
                scope=await scope_text(ctx, member),
                platform=member.platform.value.capitalize(),
            )
        )
        if _account(member) != ctx.actor:
            label = ctx.text("staff_list.remove_button", number=number, name=name)
            buttons.append([Button(label, f"{REMOVE}{_account(member)}")])
    if ctx.incoming.platform is not Platform.TELEGRAM:  # numbered buttons would clash
        lines.append(ctx.text("staff_list.how_to_zalo"))
        buttons = []
    elif buttons:
        lines.append(ctx.text("staff_list.how_to_telegram"))
    await ctx.send("\n".join(lines), buttons)


@REGISTRY.action(REMOVE, in_groups=True)
async def remove_button(ctx: Context) -> None:
    """A «remove» button of the list."""
    await _ask_removal(ctx, ctx.choice.removeprefix(REMOVE))


async def _remove_numbered(ctx: Context, words: list[str]) -> None:
    """/staff remove N: the N-th member of the list."""
    manager = await authorize(ctx, "staff.manage")
    if manager is None:
        return
    if len(words) != 1 or not words[0].isdigit():
        await ctx.say("staff_list.remove_usage")
        return
    team = await _team(ctx, manager)
    number = int(words[0])
    if not 1 <= number <= len(team):
        await ctx.say("staff_list.not_found")
        return
    await _ask_removal(ctx, _account(team[number - 1]))


async def _removable(ctx: Context, account: str) -> tuple[Staff, Staff] | None:
    """The manager and the member they may remove (through the gate, audited), else None
    (they are told why)."""
    manager = await authorize(ctx, "staff.manage", subject=account)
    if manager is None:
        return None
    platform, _, user_id = account.partition(":")
    known = platform in {p.value for p in Platform}
    member = await ctx.services.staff.get(Platform(platform), user_id) if known else None
    if member is None or not await _covers(ctx, manager, member):
        await ctx.say("staff_list.not_found")
        return None
    if account == ctx.actor:
        await ctx.say("staff_list.not_yourself")
        return None
    return manager, member


async def _ask_removal(ctx: Context, account: str) -> None:
    found = await _removable(ctx, account)
    if found is not None:
        _, member = found
        who = ctx.text(
            "staff_list.confirm_remove",
            name=await _name(ctx, member),
            role=ctx.text(f"roles.{member.role.value}"),
            scope=await scope_text(ctx, member),
        )
        await begin(ctx, STAFF_REMOVAL, data={"account": account, "question": who})


async def ask_removal(ctx: Context) -> None:
    """Whose rights go, to confirm."""
    await ctx.send(str(ctx.conversation.data["question"]), yes_no(ctx))


async def take_removal(ctx: Context) -> str | None:
    """Yes: the gate and the scope once more, then the rights go."""
    if ctx.choice not in ("yes", "no"):
        await ctx.choose_again()
        return None
    account = str(ctx.conversation.data["account"])
    found = await _removable(ctx, account)
    if found is None:
        return END
    _, member = found
    name = await _name(ctx, member)
    if ctx.choice == "no":
        await ctx.say("staff_list.kept", name=name)
        return END
    removed = await ctx.services.staff.remove(member.platform, member.user_id)
    await ctx.services.audit.append(ctx.actor, "staff.remove", removed, target=account)
    await ctx.say("staff_list.removed", name=name)
    return END


STAFF_REMOVAL = Flow(
    name="staff_removal",
    first="confirm",
    staff=True,
    steps={"confirm": Step(ask_removal, take_removal)},
)


# ---- staff group chats -----------------------------------------------------------------


def _chat(ctx: Context) -> ChatRef:
    return ChatRef(platform=ctx.incoming.platform, chat_id=ctx.incoming.chat_id)


def _areas_label(ctx: Context, areas: list[str]) -> str:
    """ "xã Tân Hà, xã Tân Hội", or the whole district."""
    names = ", ".join(in_sentence(ctx.services.areas.name(code)) for code in areas)
    return names or ctx.text("staff.all_areas")


async def _binder(ctx: Context) -> Staff | None:
    """The gate for binding this chat; a private chat is told these work in groups."""
    staff = await authorize(ctx, "chat.bind", subject=ctx.incoming.chat_id)
    if staff is not None and ctx.incoming.private:
        await ctx.say("bindchat.groups_only")
        return None
    return staff


@REGISTRY.command("bindchat", "ganchat", staff=True)
async def bind_chat(ctx: Context) -> None:
    """/bindchat [commune, ...]: this group gets the staff notices of those communes (by
    default the caller's own; the whole district only from who covers it)."""
    staff = await _binder(ctx)
    if staff is None:
        return
    areas = await _requested_areas(ctx, staff)
    if areas is None:
        return
    binding = StaffChat(
        chat=_chat(ctx), areas=areas, bound_by=ctx.actor, bound_at=ctx.services.clock.now()
    )
    await ctx.services.staff_chats.bind(binding)
    await ctx.say("bindchat.bound", areas=_areas_label(ctx, areas))


async def _requested_areas(ctx: Context, staff: Staff) -> list[str] | None:
    """The communes typed after the command (all within the caller's scope), or the caller's
    own; None when one is unknown or outside (the caller is told)."""
    parts = [part.strip() for part in ctx.incoming.payload.split(",") if part.strip()]
    if not parts:
        return scope(staff) or []
    chosen: list[str] = []
    for part in parts:
        area = ctx.services.areas.find(part)
        if area is None:
            await ctx.say("bindchat.unknown", typed=part[:60])
            return None
        if not may(staff, "chat.bind", area.code):
            mine = _areas_label(ctx, scope(staff) or [])
            await ctx.say("bindchat.outside", area=area.name, areas=mine)
            return None
        chosen.append(area.code)
    return list(dict.fromkeys(chosen))


@REGISTRY.command("unbindchat", "gochat", staff=True)
async def unbind_chat(ctx: Context) -> None:
    """/unbindchat: this group stops getting notices by area (only from who covers them)."""
    staff = await _binder(ctx)
    if staff is None:
        return
    binding = await ctx.services.staff_chats.get(_chat(ctx))
    if binding is None:
        await ctx.say("bindchat.not_bound")
        return
    allowed = (
        may_all(staff, "chat.bind", binding.areas) if binding.areas else covers_district(staff)
    )
    if not allowed:
        await ctx.say("staff.denied")
        return
    await ctx.services.staff_chats.unbind(binding.chat)
    await ctx.say("bindchat.unbound")
