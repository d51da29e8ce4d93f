"""Inviting staff without the command line: an admin picks the role, the communes (or the
organisation), a team member's hamlet and the invitee's name, and hands out a signed,
single-use link or code; whoever opens it in a private chat gets that role.

Staff invitations expire after `INVITE_TTL`, sooner than residents' (a role opens personal
data); the code is claimed atomically, so it works once however often it is tried.
"""

from __future__ import annotations

from datetime import timedelta

from core.channel import Button, Kind, Platform
from core.models import Priority, Role, Staff, StaffInvite
from core.texts import t
from core.tokens import CODE_PREFIX, InvalidToken, new_code, sign, verify
from handlers.audit_views import account_label
from handlers.context import Context
from handlers.flow import AREA, END, Flow, Step, begin, commune_buttons, yes_no
from handlers.notices import queue, to_staff
from handlers.registry import REGISTRY
from handlers.rights import INVITES, PERMISSIONS, covers_district, may, may_invite
from handlers.staff import authorize, describe_role, scope_text

INVITE_KIND = "st"
INVITE_TTL = timedelta(hours=24)
ROLE, ORG = "role:", "org:"
DONE, DISTRICT = "areas:done", "areas:district"
HAMLET_MAX, NAME_MIN, NAME_MAX = 60, 2, 80


async def start_invite(ctx: Context) -> None:
    """/staff invite: the gate, then the questions (in a private chat only)."""
    if await authorize(ctx, "staff.invite") is None:
        return
    if not ctx.incoming.private:
        await ctx.say("staff_invite.private_only")
        return
    await begin(ctx, STAFF_INVITE, data={"areas": [], "orgs": []})


async def _inviter(ctx: Context) -> Staff:
    """The inviting staff member (the flow began behind the gate)."""
    staff = await ctx.staff_member()
    assert staff is not None
    return staff


def _draft(ctx: Context, inviter: Staff) -> Staff:
    """The staff record the invitation would make, from the answers so far."""
    data = ctx.conversation.data
    return Staff(
        platform=inviter.platform,
        user_id="",
        role=Role(str(data["role"])),
        areas=[str(code) for code in data["areas"]],
        orgs=[str(org) for org in data["orgs"]],
        hamlet=str(data.get("hamlet", "")),
        name=str(data.get("name", "")),
        added_by=ctx.actor,
        added_at=ctx.services.clock.now(),
    )


# ---- role ------------------------------------------------------------------------------


def _roles(inviter: Staff) -> list[Role]:
    """The roles this inviter may give (somewhere in their scope)."""
    return [role for role in Role if role in INVITES.get(inviter.role, ())]


async def ask_role(ctx: Context) -> None:
    """The roles this inviter may give."""
    roles = _roles(await _inviter(ctx))
    buttons = [[Button(ctx.text(f"roles.{role.value}"), f"{ROLE}{role.value}")] for role in roles]
    await ctx.say("staff_invite.ask_role", buttons)


async def take_role(ctx: Context) -> str | None:
    """A role button; an organisation's manager needs an organisation to manage."""
    inviter = await _inviter(ctx)
    role = Role(ctx.choice.removeprefix(ROLE)) if ctx.choice.startswith(ROLE) else None
    if role is None or role not in _roles(inviter):
        await ctx.choose_again()
        return None
    ctx.conversation.data["role"] = role.value
    if role is Role.DISTRICT_ADMIN:
        return "name"
    if role is not Role.ORG_MANAGER:
        return "areas"
    if not await _orgs(ctx, inviter):
        await ctx.say("staff_invite.no_orgs")
        return None
    return "org"


# ---- communes --------------------------------------------------------------------------


def _chosen(ctx: Context) -> list[str]:
    return [str(code) for code in ctx.conversation.data["areas"]]


async def ask_areas(ctx: Context) -> None:
    """The communes of the inviter's scope not chosen yet; the whole district for a leader
    invited by someone who covers it; «done» once one is chosen (a team has one commune)."""
    inviter, chosen = await _inviter(ctx), _chosen(ctx)
    outside = [a.code for a in ctx.services.areas.areas if not may(inviter, "staff.invite", a.code)]
    buttons = commune_buttons(ctx, skip={*outside, *chosen})
    role = Role(str(ctx.conversation.data["role"]))
    if role is Role.LEADER and covers_district(inviter) and not chosen:
        buttons.insert(0, [Button(ctx.text("staff_invite.district"), DISTRICT)])
    if not chosen:
        await ctx.say("staff_invite.ask_areas", buttons)
        return
    buttons.append([Button(ctx.text("staff_invite.done_areas"), DONE)])
    names = ", ".join(ctx.services.areas.name(code) for code in chosen)
    await ctx.say("staff_invite.ask_more_areas", buttons, areas=names)


async def take_areas(ctx: Context) -> str | None:
    """One more commune (within the inviter's scope), the whole district, or done."""
    inviter, chosen = await _inviter(ctx), _chosen(ctx)
    role = Role(str(ctx.conversation.data["role"]))
    if (ctx.choice == DONE and chosen) or (ctx.choice == DISTRICT and not chosen):
        return "name"
    code = ctx.choice.removeprefix(AREA)
    if not ctx.choice.startswith(AREA) or code in chosen or not may(inviter, "staff.invite", code):
        await ctx.choose_again()
        return None
    ctx.conversation.data["areas"] = [*chosen, code]
    return "hamlet" if role is Role.TEAM_MEMBER else "areas"


# ---- organisation ----------------------------------------------------------------------


async def _orgs(ctx: Context, inviter: Staff) -> list[tuple[str, str]]:
    """The live organisations of the inviter's scope, as (id, name)."""
    return [
        (org.id, org.name)
        for org in await ctx.services.orgs.list()
        if not org.retired and may(inviter, "staff.invite", org.area)
    ]


async def ask_org(ctx: Context) -> None:
    """The organisations the new manager may run."""
    orgs = await _orgs(ctx, await _inviter(ctx))
    await ctx.say("staff_invite.ask_org", [[Button(name, f"{ORG}{id_}")] for id_, name in orgs])


async def take_org(ctx: Context) -> str | None:
    """One organisation of the inviter's scope."""
    org_id = ctx.choice.removeprefix(ORG)
    if not ctx.choice.startswith(ORG) or org_id not in dict(await _orgs(ctx, await _inviter(ctx))):
        await ctx.choose_again()
        return None
    ctx.conversation.data["orgs"] = [org_id]
    return "name"


# ---- hamlet, name ----------------------------------------------------------------------


def _typed_step(key: str, low: int, high: int, following: str) -> Step:
    """A typed answer of `low` to `high` characters, kept in the flow's `key`."""

    async def ask(ctx: Context) -> None:
        await ctx.say(f"staff_invite.ask_{key}")

    async def take(ctx: Context) -> str | None:
        typed = " ".join(ctx.incoming.text.split())
        if ctx.incoming.kind is not Kind.TEXT or not low <= len(typed) <= high:
            await ctx.say(f"staff_invite.bad_{key}")
            return None
        ctx.conversation.data[key] = typed
        return following

    return Step(ask, take)


# ---- confirm ---------------------------------------------------------------------------


async def ask_confirm(ctx: Context) -> None:
    """The invitation as it will be made."""
    draft = _draft(ctx, await _inviter(ctx))
    await ctx.say(
        "staff_invite.confirm",
        yes_no(ctx),
        name=draft.name,
        role=ctx.text(f"roles.{draft.role.value}"),
        scope=await scope_text(ctx, draft),
    )


async def take_confirm(ctx: Context) -> str | None:
    """Yes: the gate once more (with the data the invitation gives), then the invitation."""
    if ctx.choice not in ("yes", "no"):
        await ctx.choose_again()
        return None
    if ctx.choice == "no":
        await ctx.say("staff_invite.dropped")
        return END
    inviter = await authorize(ctx, "staff.invite")
    if inviter is None:
        return END
    draft = _draft(ctx, inviter)
    if not may_invite(inviter, draft.role, await _invited_areas(ctx, draft)):
        await ctx.say("staff.denied")
        return END
    await _issue(ctx, draft)
    return END


async def _invited_areas(ctx: Context, draft: Staff) -> list[str]:
    """The communes an invitation gives: an organisation's manager, those of the organisation."""
    if draft.role is not Role.ORG_MANAGER:
        return draft.areas
    orgs = [await ctx.org(org_id) for org_id in draft.orgs]
    return [org.area for org in orgs if org is not None]


async def _issue(ctx: Context, draft: Staff) -> None:
    """Store the invitation under a free code, audit it, and hand out its link and code."""
    services, now = ctx.services, ctx.services.clock.now()
    invite = StaffInvite(
        id=ctx.new_id("staff-invite", 12),
        code=new_code(),
        role=draft.role,
        areas=draft.areas,
        orgs=draft.orgs,
        hamlet=draft.hamlet,
        name=draft.name,
        invited_by=ctx.actor,
        created_at=now,
        expires_at=now + INVITE_TTL,
    )
    while (stored := await services.staff_invites.add(invite)) is None:  # that code was taken
        invite = invite.model_copy(update={"code": new_code()})
    details = {"invite": stored.id, "role": stored.role.value, "areas": ",".join(stored.areas)}
    await services.audit.append(ctx.actor, "staff.invite", True, details=details)
    token = sign(services.keys, INVITE_KIND, stored.id, stored.expires_at)
    link = await services.start_link(f"{INVITE_KIND}_{token}")
    lines = [
        ctx.text(
            "staff_invite.created",
            name=stored.name,
            role=ctx.text(f"roles.{stored.role.value}"),
            expires=ctx.local_time(stored.expires_at),
        ),
        *([ctx.text("invite.via_telegram", link=link)] if link else []),
        ctx.text("invite.via_zalo", code=stored.code),
    ]
    await ctx.send("\n".join(lines))


STAFF_INVITE = Flow(
    name="staff_invite",
    first="role",
    staff=True,
    steps={
        "role": Step(ask_role, take_role),
        "areas": Step(ask_areas, take_areas),
        "org": Step(ask_org, take_org),
        "hamlet": _typed_step("hamlet", 1, HAMLET_MAX, "name"),
        "name": _typed_step("name", NAME_MIN, NAME_MAX, "confirm"),
        "confirm": Step(ask_confirm, take_confirm),
    },
)


# ---- joining ---------------------------------------------------------------------------


@REGISTRY.payload(f"{INVITE_KIND}_")
async def open_token(ctx: Context, token: str) -> None:
    """`/start st_<token>`: its signature and expiry are checked before the database."""
    try:
        claim = verify(ctx.services.keys, INVITE_KIND, token, ctx.services.clock.now())
    except InvalidToken as refused:
        await ctx.say(f"staff_invite.{'expired' if refused.reason == 'expired' else 'invalid'}")
        return
    await _join(ctx, await ctx.services.staff_invites.find(invite_id=claim.id))


@REGISTRY.code(CODE_PREFIX)
async def open_code(ctx: Context, code: str) -> bool:
    """A staff invitation's code typed on Zalo; False when no staff invitation has it."""
    invite = await ctx.services.staff_invites.find(code=code)
    if invite is None:
        return False
    await _join(ctx, invite)
    return True


def _outranks(held: Role, offered: Role) -> bool:
    """Whether a role held allows something the offered one does not: taking it would lose it."""
    return not PERMISSIONS[offered] >= PERMISSIONS[held]


async def _join(ctx: Context, invite: StaffInvite | None) -> None:
    """Give the opener the invitation's role, once; refuse clearly and change nothing else."""
    now, update = ctx.services.clock.now(), ctx.new_id("staff-join")
    current = await ctx.staff_member()
    if invite is None:
        await ctx.say("staff_invite.invalid")
    elif not ctx.incoming.private:
        await ctx.say("staff_invite.private_join")
    elif invite.used_at is not None and invite.used_update != update:
        await ctx.say("staff_invite.used")
    elif invite.expires_at <= now:
        await ctx.say("staff_invite.expired")
    elif current is not None and _outranks(current.role, invite.role):
        await ctx.say("staff_invite.already_staff", role=ctx.text(f"roles.{current.role.value}"))
    elif await ctx.services.staff_invites.claim(invite.id, ctx.actor, update, now) is None:
        await ctx.say("staff_invite.used")  # someone else took it meanwhile
    else:
        await _become_staff(ctx, invite)


async def _become_staff(ctx: Context, invite: StaffInvite) -> None:
    """Store the staff record the invitation gives, audit it, and tell the new member."""
    member = Staff(
        platform=ctx.incoming.platform,
        user_id=ctx.incoming.user_id,
        role=invite.role,
        areas=invite.areas,
        orgs=invite.orgs,
        hamlet=invite.hamlet,
        name=invite.name,
        language=ctx.lang,
        added_by=invite.invited_by,
        added_at=ctx.services.clock.now(),
    )
    await ctx.services.staff.add(member)
    details = {"invite": invite.id, "role": invite.role.value}
    await ctx.services.audit.append(
        ctx.actor, "staff.join", True, target=invite.invited_by, details=details
    )
    role = ctx.text(f"roles.{member.role.value}")
    await ctx.say(
        "staff_invite.joined", name=member.name, role=role, scope=await scope_text(ctx, member)
    )
    await describe_role(ctx, member)
    await _tell_inviter(ctx, invite)


async def _tell_inviter(ctx: Context, invite: StaffInvite) -> None:
    """The inviter learns which account took the invitation: a link forwarded to the wrong
    person is then seen, and removed with /staff."""
    platform, _, user_id = invite.invited_by.partition(":")
    inviter = await ctx.services.staff.get(Platform(platform), user_id) if platform else None
    if inviter is None:  # the command line, or an inviter no longer staff
        return

    def text(member: Staff) -> str:
        role = t(member.language, f"roles.{invite.role.value}")
        account = account_label(ctx.actor)
        return t(
            member.language, "staff_invite.taken", name=invite.name, role=role, account=account
        )

    key = f"staff-join:{invite.id}"
    await queue(ctx.services, to_staff(key, [inviter], text, priority=Priority.NORMAL))
