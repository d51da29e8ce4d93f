"""Exports for other systems from a staff chat:
`/export cases|contacts|followups [csv|xlsx|json] [godata|dhis2]` (alias `/xuat`).

What is missing is asked with buttons; the file comes as a document. Commune staff export
their communes, district admins the whole district (core/exports.py has the columns).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.channel import Button
from core.exports import (
    ExportFormat,
    ExportKind,
    Row,
    Sources,
    Target,
    export,
    export_rows,
    filename,
)
from core.ports import AuditLog
from core.tracing import TraceRules
from handlers.context import Context, Services
from handlers.flow import END, Flow, Step, begin
from handlers.registry import REGISTRY
from handlers.rights import scope
from handlers.staff import authorize

# What may be typed for each argument (our words and the Vietnamese ones staff use).
WORDS: dict[str, dict[str, str]] = {
    "kind": {
        **{kind.value: kind.value for kind in ExportKind},
        "ca": ExportKind.CASES.value,
        "tiepxuc": ExportKind.CONTACTS.value,
        "f1": ExportKind.CONTACTS.value,
        "theodoi": ExportKind.FOLLOWUPS.value,
        "khaibao": ExportKind.FOLLOWUPS.value,
    },
    "format": {**{form.value: form.value for form in ExportFormat}, "excel": "xlsx"},
    "target": {target.value: target.value for target in Target},
}
STEPS = ("kind", "format", "target")


@REGISTRY.command("export", "xuat", staff=True)
async def export_command(ctx: Context) -> None:
    """/export: a file of the cases, contacts or follow-ups within the user's areas."""
    typed = _parse(ctx.incoming.payload)
    if typed is None:
        await ctx.say("exports.usage")
        return
    if typed["kind"] and typed["format"]:
        typed["target"] = typed["target"] or Target.OURS.value
    missing = _missing(typed)
    if missing is None:
        await _send(ctx, typed)
    elif await authorize(ctx, "export.run") is not None:
        await begin(ctx, EXPORT, data=dict(typed), step=missing)


def _parse(arguments: str) -> dict[str, str] | None:
    """The typed kind, format and mapping ("" for those not typed); None for a word that is
    none of them."""
    typed = dict.fromkeys(STEPS, "")
    for word in arguments.casefold().split():
        step = next((s for s in STEPS if word in WORDS[s] and not typed[s]), None)
        if step is None:
            return None
        typed[step] = WORDS[step][word]
    return typed


def _missing(data: dict[str, str]) -> str | None:
    """The first step still to ask."""
    return next((step for step in STEPS if not data.get(step)), None)


def _step(name: str, options: Sequence[str]) -> Step:
    """Ask for one argument with a button per option."""

    async def ask(ctx: Context) -> None:
        buttons = [[Button(ctx.text(f"exports.{name}_{option}"), option)] for option in options]
        await ctx.say(f"exports.ask_{name}", buttons=buttons)

    async def take(ctx: Context) -> str | None:
        if ctx.choice not in options:
            await ctx.choose_again()
            return None
        data = ctx.conversation.data
        data[name] = ctx.choice
        following = _missing(data)
        if following is None:
            await _send(ctx, data)
            return END
        return following

    return Step(ask, take)


async def _send(ctx: Context, data: dict[str, str]) -> None:
    """Build the file within the user's areas (the right checked again) and send it."""
    staff = await authorize(ctx, "export.run")
    if staff is None:
        return
    services = ctx.services
    kind, form, target = (
        ExportKind(data["kind"]),
        ExportFormat(data["format"]),
        Target(data["target"]),
    )
    areas = scope(staff)
    communes = list(areas) if areas is not None else [a.code for a in services.areas.areas]
    await ctx.say("exports.working")
    rows = await export_rows(sources(services), kind, communes, services.clock.now())
    document = await asyncio.to_thread(export, kind, form, target, rows)
    name = filename(kind, form, target, services.today())
    caption = ctx.text("exports.sent", rows=len(rows), kind=ctx.text(f"exports.name_{kind.value}"))
    details = {"kind": kind.value, "format": form.value, "mapping": target.value}
    where = ",".join(areas) if areas is not None else ""
    await record_export(services.audit, ctx.actor, where, details, rows)  # before it goes out
    await ctx.out.send_document(ctx.incoming.chat_id, document, name, caption)


async def record_export(
    audit: AuditLog, actor: str, where: str, details: dict[str, str], rows: Sequence[Row]
) -> None:
    """An export in the audit trail: what went out, and one entry for each person in it (so
    they see it in «Ai đã xem thông tin của tôi?»)."""
    await audit.append(actor, "export.done", True, where, {**details, "rows": str(len(rows))})
    people = {str(row.get("person_id") or row.get("contact_id") or "") for row in rows}
    for person in sorted(people - {""}):
        await audit.append(actor, "export.person", True, where, details, person=person)


def sources(services: Services) -> Sources:
    """What an export reads, from the handlers' services."""
    return Sources(
        cases=services.cases,
        declarations=services.declarations,
        people=services.people,
        visits=services.visits,
        checkpoints=services.checkpoints,
        orgs=services.orgs,
        areas=services.areas,
        tz=services.timezone,
        rules=TraceRules(longest=services.policy.visits.longest),
    )


EXPORT = Flow(
    name="export",
    staff=True,
    first="kind",
    steps={
        "kind": _step("kind", [kind.value for kind in ExportKind]),
        "format": _step("format", [ExportFormat.XLSX.value, "csv", "json"]),
        "target": _step("target", [target.value for target in Target]),
    },
)
