"""Limits on repeated attempts: guessed codes, wrong phone numbers, refused staff commands.

A code is 8 characters of 31 (≈ 8.5e11): at 5 failures an hour per account and 500 an hour
over all accounts, guessing one takes longer than any code lives.
"""

from __future__ import annotations

from datetime import timedelta

from handlers.context import Context

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
FAILURES_PER_ACCOUNT = 5
CODE_FAILURES_IN_ALL = 500


async def codes_blocked(ctx: Context) -> bool:
    """Whether this account (or everyone together) has guessed too many codes this hour."""
    attempts = ctx.services.attempts
    mine = await attempts.count(f"code:{ctx.actor}", HOUR)
    everyone = await attempts.count("code:*", HOUR)
    return mine >= FAILURES_PER_ACCOUNT or everyone >= CODE_FAILURES_IN_ALL


async def code_failed(ctx: Context, code: str) -> None:
    """Count a code that matched nothing, and record it."""
    await ctx.services.attempts.hit(f"code:{ctx.actor}", HOUR)
    await ctx.services.attempts.hit("code:*", HOUR)
    await audit_throttled(ctx, "code.failed", target=code)


async def phone_tries_left(ctx: Context, purpose: str) -> bool:
    """Whether this account may still try to prove a phone number for `purpose` this hour."""
    tries = await ctx.services.attempts.count(f"phone:{purpose}:{ctx.actor}", HOUR)
    return tries < FAILURES_PER_ACCOUNT


async def phone_failed(ctx: Context, purpose: str) -> bool:
    """Count a wrong phone number; False when that was the last try this hour."""
    tries = await ctx.services.attempts.hit(f"phone:{purpose}:{ctx.actor}", HOUR)
    await ctx.services.audit.append(ctx.actor, "phone.mismatch", False, target=purpose)
    return tries < FAILURES_PER_ACCOUNT


async def audit_throttled(ctx: Context, action: str, target: str = "") -> None:
    """Record a refused attempt at most once a minute per account and action.

    Each minute's first entry carries the number of attempts in the minute before, so a
    flood from one account costs the audit trail one entry a minute, and is still counted.
    """
    key = f"refused:{action}:{ctx.actor}"
    if await ctx.services.attempts.hit(key, MINUTE) > 1:
        return
    before = await ctx.services.attempts.count(key, MINUTE, windows_ago=1)
    details = {"attempts_minute_before": str(before)} if before else {}
    await ctx.services.audit.append(ctx.actor, action, False, target=target, details=details)
