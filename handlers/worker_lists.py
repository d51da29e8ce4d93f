"""A person on an organisation's worker list is asked before the list is linked to them.

The list was typed by the organisation; linking lets its manager see the person's scans at
its checkpoints and adds the list's tests and doses to the person's record. Only a chat
account that proved the phone (a shared Telegram contact) is asked.
"""

from __future__ import annotations

from core.channel import Button
from core.models import Person, Worker
from core.personal_data import withdrawn
from core.texts import t
from handlers.context import Context, Services
from handlers.notices import to_accounts
from handlers.registry import REGISTRY

ACTION = "worker:"


async def invite_worker(services: Services, worker: Worker, person: Person) -> bool:
    """Ask the person (once per list entry) whether the list may be linked to them; not
    someone who withdrew their consent."""
    if withdrawn(person):
        return False
    accounts = [a for a in await services.accounts.of_person(person.id) if a.phone_verified]
    org = await services.orgs.get(worker.org_id)
    if (
        not accounts
        or org is None
        or not await services.workers.invited(worker.id, services.clock.now())
    ):
        return False

    def buttons(lang: str) -> list[list[Button]]:
        return [
            [Button(t(lang, "workers.accept"), f"{ACTION}yes:{worker.id}")],
            [Button(t(lang, "workers.decline"), f"{ACTION}no:{worker.id}")],
        ]

    messages = to_accounts(
        f"worker-invite:{worker.id}",
        accounts,
        lambda lang: t(lang, "workers.invite", org=org.name, name=worker.name),
        lambda account: buttons(account.voice),
    )
    await services.outbox.enqueue(messages)
    services.wake_dispatchers()
    return True


async def invite_to_lists(ctx: Context) -> None:
    """Just registered with a proven phone: the lists waiting for that phone ask them."""
    account = ctx.account
    if account is None or not account.phone_verified:
        return
    person = await ctx.services.people.get(account.person_id)
    if person is None:
        return
    for worker in await ctx.services.workers.with_phone(person.phone):
        if not worker.person_id:
            await invite_worker(ctx.services, worker, person)


@REGISTRY.action(ACTION)
async def answer_invitation(ctx: Context) -> None:
    """«Đồng ý» links the list entry to the person (who must still hold the phone)."""
    answer, _, worker_id = ctx.choice.removeprefix(ACTION).partition(":")
    services, account = ctx.services, ctx.account
    worker = await services.workers.get(worker_id)
    person = await services.people.get(account.person_id) if account else None
    if worker is None or person is None or not account or not account.phone_verified:
        await ctx.say("workers.gone")
        return
    if person.phone != worker.phone:
        await ctx.say("workers.gone")
        return
    if answer != "yes":
        await ctx.say("workers.declined")
        return
    linked = await services.workers.link(worker.id, person.id)
    if linked is not None:
        await services.people.add_records(
            person.id, linked.residence, linked.tests, linked.vaccinations
        )
        await services.audit.append(
            ctx.actor, "worker.link", True, target=worker.id, person=person.id
        )
    org = await services.orgs.get(worker.org_id)
    await ctx.say("workers.linked", org=org.name if org else "")
