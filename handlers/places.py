"""Organisations and their QR checkpoints, run from a staff chat: add, look, rename, print
posters, revoke the printed posters, retire. Org managers see only their own organisations.

One flow of buttons (/places, /diemquet): the organisations → one organisation and its
checkpoints → one checkpoint. Each step checks the right again against the record touched.
"""

from __future__ import annotations

import asyncio
import re

from core.channel import Button
from core.checkpoints import checkpoint_token, landing_url, start_payload
from core.models import Checkpoint, CheckpointKind, Organisation, OrgKind, Role, Staff
from core.posters import PosterItem, poster_pdf, poster_png
from core.tokens import new_code, new_id
from handlers.context import Context
from handlers.flow import END, Flow, Step, begin, yes_no
from handlers.registry import REGISTRY
from handlers.rights import may, may_manage, scope
from handlers.staff import authorize

_NAME = re.compile(r"\S(?:.{0,118}\S)?")
BACK = "back"


@REGISTRY.command("places", "diemquet", staff=True)
async def places(ctx: Context) -> None:
    """/places: the organisations in the user's scope and their checkpoints."""
    if await authorize(ctx, "place.manage") is not None:
        await begin(ctx, PLACES)


async def _staff(ctx: Context) -> Staff | None:
    staff = await ctx.staff_member()
    return staff if may(staff, "place.manage") else None


async def orgs_in_scope(ctx: Context, staff: Staff) -> list[Organisation]:
    """The live organisations this staff member runs, by name."""
    orgs = ctx.services.orgs
    if staff.role is Role.ORG_MANAGER:
        found = [org for org_id in staff.orgs if (org := await orgs.get(org_id))]
    else:
        areas = scope(staff)
        lists = [await orgs.list(None)] if areas is None else [await orgs.list(a) for a in areas]
        found = [org for listed in lists for org in listed]
    return sorted((org for org in found if not org.retired), key=lambda org: org.name)


async def _org(ctx: Context) -> Organisation | None:
    """The organisation the flow is on, if the user may still run it (else they are told)."""
    org = await ctx.services.orgs.get(str(ctx.conversation.data.get("org", "")))
    if org is None or org.retired or not may_manage(await ctx.staff_member(), org):
        await ctx.say("places.gone")
        return None
    return org


async def _checkpoint(ctx: Context, org: Organisation) -> Checkpoint | None:
    """The flow's checkpoint, if it is still a live one of `org`."""
    checkpoint = await ctx.services.checkpoints.get(str(ctx.conversation.data.get("cp", "")))
    if checkpoint is None or checkpoint.retired or checkpoint.org_id != org.id:
        await ctx.say("places.gone")
        return None
    return checkpoint


async def ask_orgs(ctx: Context) -> None:
    """The organisations as buttons, and adding one for those who may."""
    staff = await _staff(ctx)
    if staff is None:
        return
    orgs = await orgs_in_scope(ctx, staff)
    buttons = [[Button(f"🏭 {org.name}", f"org:{org.id}")] for org in orgs]
    if may(staff, "org.add"):
        buttons.append([Button(ctx.text("places.add_org"), "new_org")])
    await ctx.say("places.orgs" if orgs else "places.no_orgs", buttons=buttons)


async def take_orgs(ctx: Context) -> str | None:
    """An organisation picked, or a new one to add."""
    if ctx.choice == "new_org" and may(await ctx.staff_member(), "org.add"):
        return "org_name"
    if ctx.choice.startswith("org:"):
        ctx.conversation.data["org"] = ctx.choice.removeprefix("org:")
        return "org" if await _org(ctx) else END
    await ctx.choose_again()
    return None


async def ask_org_name(ctx: Context) -> None:
    """The new organisation's name."""
    await ctx.say("places.org_name")


async def take_org_name(ctx: Context) -> str | None:
    """A name of 1–120 characters."""
    name = await _typed_name(ctx)
    if name is None:
        return None
    ctx.conversation.data["name"] = name
    return "org_kind"


async def ask_org_kind(ctx: Context) -> None:
    """What the organisation is: company, market, school…"""
    kinds = [Button(ctx.text(f"poster.org_{kind.value}"), f"kind:{kind.value}") for kind in OrgKind]
    await ctx.say("places.org_kind", buttons=[kinds[i : i + 2] for i in range(0, len(kinds), 2)])


async def take_org_kind(ctx: Context) -> str | None:
    """Remember the kind; the commune next, unless the user covers only one."""
    kind = ctx.choice.removeprefix("kind:")
    if kind not in OrgKind.__members__.values():
        await ctx.choose_again()
        return None
    ctx.conversation.data["kind"] = kind
    staff = await _staff(ctx)
    areas = scope(staff) if staff else []
    if areas is not None and len(areas) == 1:
        return await _add_org(ctx, areas[0])
    return "org_area"


async def ask_org_area(ctx: Context) -> None:
    """The communes the user covers, two per row."""
    staff = await _staff(ctx)
    areas = ctx.services.areas.areas
    covered = scope(staff) if staff else []
    buttons = [
        Button(area.name, f"area:{area.code}")
        for area in areas
        if covered is None or area.code in covered
    ]
    await ctx.say(
        "places.org_area", buttons=[buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    )


async def take_org_area(ctx: Context) -> str | None:
    """A commune in the user's scope: the organisation is created there."""
    code = ctx.choice.removeprefix("area:")
    if not ctx.choice.startswith("area:") or ctx.services.areas.get(code) is None:
        await ctx.choose_again()
        return None
    return await _add_org(ctx, code)


async def _add_org(ctx: Context, area: str) -> str | None:
    staff = await authorize(ctx, "org.add", area)
    if staff is None:
        return END
    data, services = ctx.conversation.data, ctx.services
    org = Organisation(
        id=ctx.new_id("org", 12),
        name=str(data["name"]),
        kind=OrgKind(str(data["kind"])),
        area=area,
        created_by=ctx.actor,
        created_at=services.clock.now(),
    )
    await services.orgs.add(org)
    details = {"name": org.name, "kind": org.kind.value, "area": org.area}
    await services.audit.append(ctx.actor, "org.add", True, target=org.id, details=details)
    await ctx.say("places.org_added", name=org.name, area=services.areas.name(area))
    data["org"] = org.id
    return "org"


async def ask_org(ctx: Context) -> None:
    """One organisation: its checkpoints, and what can be done."""
    org = await _org(ctx)
    if org is None:
        return
    live = [cp for cp in await ctx.services.checkpoints.of_org(org.id) if not cp.retired]
    lines = [
        ctx.text(
            "places.org",
            name=org.name,
            kind=ctx.text(f"poster.org_{org.kind.value}"),
            area=ctx.services.areas.name(org.area),
        ),
        *(_checkpoint_line(ctx, cp) for cp in live),
    ]
    if not live:
        lines.append(ctx.text("places.no_checkpoints"))
    buttons = [[Button(f"📍 {cp.name}", f"cp:{cp.id}")] for cp in live]
    buttons += [
        [Button(ctx.text("places.add_checkpoint"), "new_cp")],
        *([[Button(ctx.text("places.print_all"), "print_all")]] if live else []),
        [Button(ctx.text("places.rename"), "rename")],
        [Button(ctx.text("places.retire_org"), "retire_org")],
        [Button(ctx.text("places.back"), BACK)],
    ]
    await ctx.send("\n".join(lines), buttons)


def _checkpoint_line(ctx: Context, checkpoint: Checkpoint) -> str:
    kind = ctx.text(f"poster.kind_{checkpoint.kind.value}")
    return ctx.text(
        "places.checkpoint_line",
        name=checkpoint.name,
        kind=kind,
        code=checkpoint.code,
    )


async def take_org(ctx: Context) -> str | None:
    """A checkpoint picked, or an action on the organisation."""
    org = await _org(ctx)
    if org is None:
        return END
    choice, data = ctx.choice, ctx.conversation.data
    if choice.startswith("cp:"):
        data["cp"] = choice.removeprefix("cp:")
        return "checkpoint" if await _checkpoint(ctx, org) else "org"
    if choice == "print_all":
        live = [cp for cp in await ctx.services.checkpoints.of_org(org.id) if not cp.retired]
        await _send_posters(ctx, org, live)
        return "org"
    steps = {"new_cp": "cp_kind", "rename": "rename", "retire_org": "confirm", BACK: "orgs"}
    if choice not in steps:
        await ctx.choose_again()
        return None
    data.pop("cp", None)
    data["action"] = choice
    return steps[choice]


async def ask_cp_kind(ctx: Context) -> None:
    """What kind of place the new checkpoint is."""
    kinds = [
        Button(ctx.text(f"poster.kind_{kind.value}"), f"kind:{kind.value}")
        for kind in CheckpointKind
    ]
    await ctx.say("places.cp_kind", buttons=[kinds[i : i + 2] for i in range(0, len(kinds), 2)])


async def take_cp_kind(ctx: Context) -> str | None:
    """Remember the kind; its name next."""
    kind = ctx.choice.removeprefix("kind:")
    if kind not in CheckpointKind.__members__.values():
        await ctx.choose_again()
        return None
    ctx.conversation.data["kind"] = kind
    return "cp_name"


async def ask_cp_name(ctx: Context) -> None:
    """The new checkpoint's name (a bus: its plate)."""
    await ctx.say("places.cp_name")


async def take_cp_name(ctx: Context) -> str | None:
    """Create the checkpoint and send its poster."""
    name = await _typed_name(ctx)
    org = await _org(ctx) if name else None
    if name is None or org is None:
        return None if name is None else END
    services = ctx.services
    draft = Checkpoint(
        id=ctx.new_id("checkpoint", 12),
        org_id=org.id,
        kind=CheckpointKind(str(ctx.conversation.data["kind"])),
        name=name,
        area=org.area,
        code=new_code(),
        created_by=ctx.actor,
        created_at=services.clock.now(),
    )
    checkpoint = await services.checkpoints.add(draft)
    details = {"org": org.id, "kind": checkpoint.kind.value, "name": checkpoint.name}
    await services.audit.append(
        ctx.actor, "checkpoint.add", True, target=checkpoint.id, details=details
    )
    await ctx.say("places.cp_added", name=checkpoint.name, code=checkpoint.code)
    await _send_posters(ctx, org, [checkpoint])
    ctx.conversation.data["cp"] = checkpoint.id
    return "checkpoint"


async def ask_checkpoint(ctx: Context) -> None:
    """One checkpoint: its code and links, and what can be done."""
    org = await _org(ctx)
    checkpoint = await _checkpoint(ctx, org) if org else None
    if org is None or checkpoint is None:
        return
    link = await ctx.services.start_link(
        start_payload(checkpoint_token(ctx.services.keys, checkpoint))
    )
    buttons = [
        [Button(ctx.text("places.poster"), "poster")],
        [Button(ctx.text("cards.gate_button"), "gate")],
        [Button(ctx.text("places.rename"), "rename")],
        [Button(ctx.text("places.revoke"), "revoke_cp")],
        [Button(ctx.text("places.retire_cp"), "retire_cp")],
        [Button(ctx.text("places.back"), BACK)],
    ]
    await ctx.say(
        "places.checkpoint",
        buttons=buttons,
        name=checkpoint.name,
        org=org.name,
        kind=ctx.text(f"poster.kind_{checkpoint.kind.value}"),
        code=checkpoint.code,
        link=link or "—",
    )


async def take_checkpoint(ctx: Context) -> str | None:
    """Print, rename, revoke, retire, or back to the organisation."""
    org = await _org(ctx)
    checkpoint = await _checkpoint(ctx, org) if org else None
    if org is None or checkpoint is None:
        return END if org is None else "org"
    if ctx.choice == "poster":
        await _send_posters(ctx, org, [checkpoint])
        return "checkpoint"
    if ctx.choice == "gate":
        incoming = ctx.incoming
        await ctx.services.staff.set_gate(incoming.platform, incoming.user_id, checkpoint.id)
        await ctx.services.audit.append(ctx.actor, "gate.set", True, target=checkpoint.id)
        await ctx.say("cards.gate_set", name=checkpoint.name)
        return END
    steps = {"rename": "rename", "revoke_cp": "confirm", "retire_cp": "confirm", BACK: "org"}
    if ctx.choice not in steps:
        await ctx.choose_again()
        return None
    ctx.conversation.data["action"] = ctx.choice
    return steps[ctx.choice]


async def ask_rename(ctx: Context) -> None:
    """The new name."""
    await ctx.say("places.new_name")


async def take_rename(ctx: Context) -> str | None:
    """Rename the checkpoint (when the flow is on one) or the organisation."""
    name = await _typed_name(ctx)
    org = await _org(ctx) if name else None
    if name is None or org is None:
        return None if name is None else END
    services = ctx.services
    if ctx.conversation.data.get("cp"):
        checkpoint = await _checkpoint(ctx, org)
        if checkpoint is None:
            return "org"
        renamed = await services.checkpoints.rename(checkpoint.id, name) is not None
        action, target, following = "checkpoint.rename", checkpoint.id, "checkpoint"
    else:
        renamed = await services.orgs.rename(org.id, name) is not None
        action, target, following = "org.rename", org.id, "org"
    await services.audit.append(ctx.actor, action, renamed, target=target)
    await ctx.say("places.renamed" if renamed else "places.gone", name=name)
    return following


async def ask_confirm(ctx: Context) -> None:
    """Retiring and revoking cannot be undone: ask first."""
    org = await _org(ctx)
    if org is None:
        return
    action = str(ctx.conversation.data["action"])
    checkpoint = await ctx.services.checkpoints.get(str(ctx.conversation.data.get("cp", "")))
    name = checkpoint.name if checkpoint and action != "retire_org" else org.name
    await ctx.say(f"places.confirm_{action}", buttons=yes_no(ctx), name=name)


async def take_confirm(ctx: Context) -> str | None:
    """Do it on «Có»; «Không» goes back."""
    org = await _org(ctx)
    if org is None:
        return END
    action, data = str(ctx.conversation.data["action"]), ctx.conversation.data
    back = "org" if action == "retire_org" else "checkpoint"
    if ctx.choice == "no":
        return back
    if ctx.choice != "yes":
        await ctx.choose_again()
        return None
    if action == "retire_org":
        return await _retire_org(ctx, org)
    checkpoint = await _checkpoint(ctx, org)
    if checkpoint is None:
        return "org"
    repo, services = ctx.services.checkpoints, ctx.services
    changed = await (
        repo.revoke(checkpoint.id) if action == "revoke_cp" else repo.retire(checkpoint.id)
    )
    done = "checkpoint.revoke" if action == "revoke_cp" else "checkpoint.retire"
    await services.audit.append(ctx.actor, done, changed is not None, target=checkpoint.id)
    if action == "retire_cp" or changed is None:
        await ctx.say("places.retired" if changed else "places.gone", name=checkpoint.name)
        data.pop("cp", None)
        return "org"
    await ctx.say("places.revoked", name=changed.name, code=changed.code)
    await _send_posters(ctx, org, [changed])
    return "checkpoint"


async def _retire_org(ctx: Context, org: Organisation) -> str:
    """Retire the organisation and every checkpoint of it."""
    services = ctx.services
    for checkpoint in await services.checkpoints.of_org(org.id):
        if not checkpoint.retired:
            await services.checkpoints.retire(checkpoint.id)
    retired = await services.orgs.retire(org.id)
    await services.audit.append(ctx.actor, "org.retire", retired is not None, target=org.id)
    await ctx.say("places.retired", name=org.name)
    ctx.conversation.data.pop("org", None)
    return "orgs"


async def _send_posters(ctx: Context, org: Organisation, checkpoints: list[Checkpoint]) -> None:
    """The posters as a PDF to print, and the first one as a picture to check at a glance."""
    items = [await _poster_item(ctx, org, checkpoint) for checkpoint in checkpoints]
    lang = ctx.lang
    pdf, png = await asyncio.gather(
        asyncio.to_thread(poster_pdf, items, lang), asyncio.to_thread(poster_png, items[0], lang)
    )
    await ctx.reply_photo(png, ctx.text("places.poster_caption", name=items[0].checkpoint.name))
    filename = f"ap-phich-{new_id()}.pdf"
    await ctx.out.send_document(
        ctx.incoming.chat_id, pdf, filename, ctx.text("places.pdf_caption", count=len(items))
    )


async def _poster_item(ctx: Context, org: Organisation, checkpoint: Checkpoint) -> PosterItem:
    """A poster whose QR opens our landing page (with a public URL) or the Telegram bot."""
    services = ctx.services
    token = checkpoint_token(services.keys, checkpoint)
    base = services.policy.poster_base_url
    url = landing_url(base, token) if base else await services.start_link(start_payload(token))
    return PosterItem(org, checkpoint, services.areas.name(checkpoint.area), url or token)


async def _typed_name(ctx: Context) -> str | None:
    """A typed name of 1–120 characters, spaces tidied; None (user told) otherwise."""
    name = " ".join(ctx.incoming.text.split())
    if not _NAME.fullmatch(name):
        await ctx.say("places.name_invalid")
        return None
    return name


PLACES = Flow(
    name="places",
    staff=True,
    first="orgs",
    steps={
        "orgs": Step(ask_orgs, take_orgs),
        "org_name": Step(ask_org_name, take_org_name),
        "org_kind": Step(ask_org_kind, take_org_kind),
        "org_area": Step(ask_org_area, take_org_area),
        "org": Step(ask_org, take_org),
        "cp_kind": Step(ask_cp_kind, take_cp_kind),
        "cp_name": Step(ask_cp_name, take_cp_name),
        "checkpoint": Step(ask_checkpoint, take_checkpoint),
        "rename": Step(ask_rename, take_rename),
        "confirm": Step(ask_confirm, take_confirm),
    },
)
