"""`python -m bot [run]` starts the service; `python -m bot staff ...` manages staff roles."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot.config import Settings, describe_error
from bot.logs import setup_logging
from core.areas import load_areas
from core.channel import Platform
from core.clock import SystemClock
from core.models import Role, Staff
from storage.database import Storage, open_database


def parser() -> argparse.ArgumentParser:
    """The command line."""
    root = argparse.ArgumentParser(prog="python -m bot", description="khaibao chatbot service")
    commands = root.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot (the default)")
    staff = commands.add_parser("staff", help="manage staff roles").add_subparsers(
        dest="action", required=True
    )
    add = staff.add_parser("add", help="give a chat account a staff role")
    add.add_argument("--platform", required=True, choices=[p.value for p in Platform])
    add.add_argument("--user-id", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--area", action="append", default=[], help="commune code (repeatable)")
    staff.add_parser("list", help="list staff")
    remove = staff.add_parser("remove", help="take a staff role away")
    remove.add_argument("--platform", required=True, choices=[p.value for p in Platform])
    remove.add_argument("--user-id", required=True)
    return root


async def staff_command(settings: Settings, args: argparse.Namespace) -> str:
    """Run one `staff` action against the configured (or running embedded) database."""
    uri = settings.mongodb_uri.get_secret_value() if settings.mongodb_uri else None
    async with open_database(uri, settings.mongodb_db, settings.data_dir, reuse_running=True) as db:
        storage = Storage.over(db, SystemClock())
        await storage.ensure_indexes()
        actor = f"cli:{getpass.getuser()}"
        if args.action == "add":
            return await _add(storage, settings, args, actor)
        if args.action == "remove":
            removed = await storage.staff.remove(Platform(args.platform), args.user_id)
            target = f"{args.platform}:{args.user_id}"
            await storage.audit.append(actor, "staff.remove", removed, target=target)
            return f"removed {target}" if removed else f"{target} is not staff"
        rows = [
            f"{s.platform.value}\t{s.user_id}\t{s.role.value}\t{','.join(s.areas) or '*'}"
            for s in await storage.staff.all()
        ]
        return "\n".join(["platform\tuser_id\trole\tareas", *rows])


async def _add(storage: Storage, settings: Settings, args: argparse.Namespace, actor: str) -> str:
    areas = load_areas(settings.areas_file)
    unknown = [code for code in args.area if areas.get(code) is None]
    if unknown:
        raise SystemExit(
            f"unknown area code(s): {', '.join(unknown)}; "
            f"known: {', '.join(a.code for a in areas.areas)}"
        )
    role = Role(args.role)
    if role is not Role.DISTRICT_ADMIN and not args.area:
        raise SystemExit(f"role {role.value} needs at least one --area")
    staff = Staff(
        platform=Platform(args.platform),
        user_id=args.user_id,
        role=role,
        areas=args.area,
        added_by=actor,
        added_at=SystemClock().now(),
    )
    await storage.staff.add(staff)
    target = f"{staff.platform.value}:{staff.user_id}"
    await storage.audit.append(
        actor,
        "staff.add",
        True,
        target=target,
        details={"role": role.value, "areas": ",".join(args.area)},
    )
    return f"{target} is now {role.value}"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load settings, run the command."""
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    if args.command == "staff":
        print(asyncio.run(staff_command(settings, args)))
        return 0
    from bot.app import run  # staff commands need not load aiogram

    asyncio.run(run(settings))
    return 0
