"""Untrusted photos from chats: fetched, checked and normalised (EXIF stripped) off the loop."""

from __future__ import annotations

from core.channel import ChannelError, Photo, TooLarge
from core.imaging import NormalisedPhoto, PhotoRejected
from handlers.context import Context

SELFIE_TOO_SMALL = "quarantine.selfie_too_small"


async def downloaded_photo(
    ctx: Context, photo: Photo, too_small: str = SELFIE_TOO_SMALL
) -> NormalisedPhoto | None:
    """Download and normalise the photo; None (user told why) when it is unusable.

    Every refusal is the one selfies get, but for `too_small`, which says what the photo
    has to show.
    """
    limit = ctx.services.policy.selfie_max_bytes // 1_000_000
    rejections = {"too_large": "quarantine.selfie_too_large", "too_small": too_small}
    if photo.size is not None and photo.size > ctx.services.policy.selfie_max_bytes:
        await ctx.say("quarantine.selfie_too_large", limit=limit)
        return None
    try:
        data = await photo.download()
    except TooLarge:
        await ctx.say("quarantine.selfie_too_large", limit=limit)
        return None
    except ChannelError:
        await ctx.say("quarantine.selfie_failed")
        return None
    try:
        return await ctx.services.normalise_photo(data)
    except PhotoRejected as rejected:
        key = rejections.get(rejected.reason, "quarantine.selfie_unreadable")
        await ctx.say(key, limit=limit)
        return None
