"""One-time links to small pages of our own web server, for what Zalo bots cannot receive
(a phone's position, a file).

A link is a signed token naming a link id, with an expiry. The id is remembered in the
conversation of the account it was sent to, under the kind's key: the page finds that account
from the token (the kind narrows the accounts that may hold the id, then the conversation
confirms it), and a link is used once (counted in `attempts`).

Two kinds: the location page (handlers/location.py) and the upload page, here: Zalo bots
receive no files, so staff get a link to a page whose file arrives as a document update of
theirs (`Kind.DOCUMENT`). A link is remembered in the conversation, which the router keeps only
while a flow is in progress or buttons are offered: hand links out from within a flow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from core.channel import Platform
from core.tokens import InvalidToken, sign, verify
from handlers.context import Context, Services


@dataclass(frozen=True)
class Holder:
    """An account a link may have been sent to: where to answer it, in which language."""

    platform: Platform
    user_id: str
    chat_id: str
    language: str


@dataclass(frozen=True)
class LinkTarget:
    """Whom a page link is for: the chat account to answer, in its language."""

    platform: Platform
    user_id: str
    chat_id: str
    language: str
    link_id: str


# The accounts that may hold a link id (the id encodes enough to find them).
FindHolders = Callable[[Services, str], Awaitable[Sequence[Holder]]]


@dataclass(frozen=True)
class PageLinks:
    """One kind of page link: its token kind (also the URL path), conversation key and life."""

    kind: str
    key: str
    ttl: timedelta
    holders: FindHolders

    def new(self, ctx: Context, link_id: str) -> str:
        """A link to the page for `link_id` (12 hex characters), remembered in the conversation."""
        services = ctx.services
        ctx.conversation.data[self.key] = link_id
        token = sign(services.keys, self.kind, link_id, services.clock.now() + self.ttl)
        return f"{services.policy.page_base_url}/{self.kind}/{token}"

    async def target(self, services: Services, token: str) -> LinkTarget | None:
        """The account a link is for, while its conversation still holds it; None when forged,
        expired, replaced or used."""
        try:
            claim = verify(services.keys, self.kind, token, services.clock.now())
        except InvalidToken:
            return None
        if await self._uses(services, claim.id):
            return None
        for holder in await self.holders(services, claim.id):
            conversation = await services.conversations.get(holder.platform, holder.user_id)
            if conversation.data.get(self.key) == claim.id:
                return LinkTarget(
                    holder.platform, holder.user_id, holder.chat_id, holder.language, claim.id
                )
        return None

    async def use(self, services: Services, token: str) -> LinkTarget | None:
        """The account of a link used for the first time; None when forged, stale or used."""
        target = await self.target(services, token)
        if target is None:
            return None
        uses = await services.attempts.hit(self._counter(target.link_id), self._window)
        # A second use racing this one counted 2 here, or 1 in a new window after ours.
        return target if uses == 1 and not await self._uses(services, target.link_id, 1) else None

    @property
    def _window(self) -> timedelta:
        # Twice a link's life: all its uses fall in the current counting window or the one before.
        return 2 * self.ttl

    def _counter(self, link_id: str) -> str:
        return f"{self.kind}:{link_id}"

    async def _uses(self, services: Services, link_id: str, windows_ago: int = 0) -> int:
        """The uses of a link counted in the windows `windows_ago` (0: this one) to 1 back."""
        key, window = self._counter(link_id), self._window
        counts = [await services.attempts.count(key, window, ago) for ago in range(windows_ago, 2)]
        return sum(counts)


UPLOAD_KIND = "tep"
UPLOAD_TTL = timedelta(minutes=30)
_ACCOUNT_HEX = 8  # of an upload link id's 12: which account it was sent to (a hash prefix)


def _account_tag(platform: Platform, user_id: str) -> str:
    return hashlib.sha256(f"{platform.value}|{user_id}".encode()).hexdigest()[:_ACCOUNT_HEX]


async def _staff_holders(services: Services, link_id: str) -> list[Holder]:
    """The staff accounts whose tag starts the link id (the staff list is short)."""
    tag = link_id[:_ACCOUNT_HEX]
    found: list[Holder] = []
    for member in await services.staff.all():
        if _account_tag(member.platform, member.user_id) != tag:
            continue
        account = await services.accounts.get(member.platform, member.user_id)
        # A private chat's id is its user's (both platforms); a resident account knows better.
        chat_id = account.chat_id if account else member.user_id
        language = account.language if account else member.language
        found.append(Holder(member.platform, member.user_id, chat_id, language))
    return found


UPLOAD_LINKS = PageLinks(UPLOAD_KIND, "upload_link", UPLOAD_TTL, _staff_holders)


async def upload_link(ctx: Context) -> str:
    """A 30-minute, one-time link to the upload page for this staff member (for Zalo)."""
    incoming = ctx.incoming
    tag = _account_tag(incoming.platform, incoming.user_id)
    return UPLOAD_LINKS.new(ctx, tag + ctx.new_id("upload-link", 12 - _ACCOUNT_HEX))


async def upload_target(services: Services, token: str) -> LinkTarget | None:
    """The staff account an upload link is for, while it is valid and unused."""
    return await UPLOAD_LINKS.target(services, token)


async def use_upload_link(services: Services, token: str) -> LinkTarget | None:
    """The account of an upload link used for the first time; None when forged, stale or used."""
    return await UPLOAD_LINKS.use(services, token)
