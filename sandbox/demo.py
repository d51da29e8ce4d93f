"""The page's "Demo" button: staff, residents, one enrolled case and a factory's QR checkpoint,
seeded the way people would.

Staff roles are given with the real CLI (`python -m bot staff add`) in a child process, and the
simulated users then talk to the bot through the emulators: a resident registers with /start and
an officer enrols her with /enroll and sets up a checkpoint with /diemquet (its poster's link
opens the scan in the page). Running it again only re-checks: the bot itself refuses a
second registration or a second active case, and the officer's /cases shows the case exists.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.client import SandboxClient
from sandbox.common import ControlError

if TYPE_CHECKING:  # the control API builds the demo: importing it at run time would be circular
    from sandbox.control import Users

# Each bot reply is awaited at most this long; the embedded bot answers in well under a second.
REPLY_TIMEOUT_S = 20.0
POLL_SLICE_S = 5.0
AREA = "tan-hoi"
PLATFORM = "telegram"

Message = dict[str, Any]
Expect = Callable[[Message], bool]


@dataclass(frozen=True)
class Person:
    """A seeded simulated user: fixed ids so a second run finds the same people."""

    name: str
    telegram_id: str
    zalo_id: str
    role: str = ""
    areas: tuple[str, ...] = ()


ADMIN = Person("Cán bộ huyện", "700000001", "d0000000000000000001", "district_admin")
OFFICER = Person(
    "Cán bộ y tế xã Tân Hội", "700000002", "d0000000000000000002", "health_officer", (AREA,)
)
LAN = Person("Bà Nguyễn Thị Lan", "700000003", "d0000000000000000003")
MINH = Person("Ông Trần Văn Minh", "700000004", "d0000000000000000004")
PEOPLE = (ADMIN, OFFICER, LAN, MINH)
LAN_FULL_NAME, LAN_PHONE, LAN_ADDRESS = "Nguyễn Thị Lan", "0912 000 003", "Số 5, ấp Tân Hội Đông"


def anything(message: Message) -> bool:
    """Any bot reply."""
    return True


def button(prefix: str) -> Expect:
    """A reply offering a button whose callback data starts with `prefix`."""
    return lambda message: find_button(message, prefix) is not None


def asks(kind: str) -> Expect:
    """A reply asking for a contact or a location."""
    return lambda message: message.get("ask") == kind


def find_button(message: Message, prefix: str) -> str | None:
    """The callback data of the first button starting with `prefix`."""
    datas = (b.get("data") or "" for row in message.get("buttons") or [] for b in row)
    return next((data for data in datas if data.startswith(prefix)), None)


@dataclass
class Chat:
    """One seeded person's Telegram chat with the bot, read in order like a person reads it."""

    client: SandboxClient
    person: Person
    cursor: int = 0

    async def send(self, **fields: Any) -> None:
        """Act as this person (the page shows the same display name)."""
        await self.client.send(self.person.telegram_id, display_name=self.person.name, **fields)

    async def expect(self, wanted: Expect) -> Message:
        """The first new bot message matching `wanted`; ControlError when it never comes."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while (remaining := deadline - time.monotonic()) > 0:
            wait = min(remaining, POLL_SLICE_S)
            for message in await self.client.messages(self.person.telegram_id, self.cursor, wait):
                self.cursor = message["seq"]
                if wanted(message):
                    return message
        raise ControlError(f"demo: {self.person.name} got no expected reply from the bot")

    async def press(self, prefix: str, message: Message | None = None) -> None:
        """Press the button starting with `prefix` on `message`, or on the next one offering it."""
        message = message or await self.expect(button(prefix))
        data = find_button(message, prefix)
        await self.send(callback_data=data, message_id=message["message_id"])

    async def say(self, text: str) -> None:
        """Wait for the bot's prompt, then type `text`."""
        await self.expect(anything)
        await self.send(text=text)

    async def settle(self) -> None:
        """Read up to the newest message, so the next step waits for a fresh reply."""
        for message in await self.client.messages(self.person.telegram_id, self.cursor):
            self.cursor = message["seq"]


async def give_role(person: Person, env: Mapping[str, str]) -> None:
    """`python -m bot staff add ...`, as an administrator runs it."""
    areas = [arg for area in person.areas for arg in ("--area", area)]
    command = ["staff", "add", "--platform", PLATFORM, "--user-id", person.telegram_id]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *command,
        "--role",
        person.role,
        *areas,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        last = errors.decode(errors="replace").strip().splitlines()[-1:]
        raise ControlError(f"demo: staff add failed: {' '.join(last)}")


async def register(lan: Chat) -> None:
    """The resident registers on Telegram (sharing her contact, so her phone is proven)."""
    await lan.send(text="/start")
    languages_or_menu = await lan.expect(lambda m: button("lang:")(m) or button("menu:")(m))
    if find_button(languages_or_menu, "lang:") is None:
        return  # already registered: /start showed her menu
    await lan.press("lang:vi", languages_or_menu)
    await lan.press("consent:yes")
    await lan.say(LAN_FULL_NAME)
    await lan.expect(asks("contact"))
    await lan.send(contact={"phone_number": LAN_PHONE})
    await lan.press(f"area:{AREA}")
    await lan.press("form:ba")  # she asked to be called «bà»
    await lan.press("confirm:yes")
    await lan.expect(anything)


async def enrol(officer: Chat, name: str, phone: str, address: str) -> None:
    """The officer enrols a person in the commune, unless /cases already lists them."""
    await officer.settle()
    await officer.send(text="/cases")
    listing = await officer.expect(anything)
    if name in listing.get("text", ""):
        return
    await officer.send(text="/enroll")
    await officer.say(name)
    await officer.say(phone)
    await officer.say(address)
    await officer.press(f"area:{AREA}")
    await officer.press("date:")
    await officer.press("date:")
    await officer.press("chat:this")
    await officer.press("enroll:yes")
    await officer.expect(anything)


FACTORY, CANTEEN = "Công ty May Tân Hội", "Nhà ăn ca 1"


async def set_up_checkpoint(officer: Chat) -> None:
    """The officer adds a factory and its canteen's QR checkpoint from the chat (/diemquet),
    unless the factory is listed already; the poster and its Telegram link stay in the chat."""
    await officer.settle()
    await officer.send(text="/diemquet")
    listing = await officer.expect(button("new_org"))
    if FACTORY in str(listing.get("buttons")):
        await officer.send(text="/huy")
        return
    await officer.press("new_org", listing)
    await officer.say(FACTORY)
    await officer.press("kind:company")
    await officer.press("new_cp")
    await officer.press("kind:canteen")
    await officer.say(CANTEEN)
    await officer.expect(button("poster"))


class Demo:
    """Seeds the demo once at a time; `cli_env` points the staff CLI at the bot's database."""

    def __init__(self, users: Users) -> None:
        self.users = users
        self.cli_env: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def seed(self, base_url: str) -> list[dict[str, str]]:
        """Create (or find again) the demo people and the case; return them as page users."""
        async with self._lock:
            for person in PEOPLE:
                self.users.add(person.name, person.telegram_id, person.zalo_id)
            await asyncio.gather(*(give_role(p, self.cli_env) for p in (ADMIN, OFFICER)))
            client = SandboxClient(base_url, PLATFORM)
            try:
                await register(Chat(client, LAN))
                officer = Chat(client, OFFICER)
                await enrol(officer, LAN_FULL_NAME, LAN_PHONE, LAN_ADDRESS)
                await set_up_checkpoint(officer)
            finally:
                await client.aclose()
        ids = {person.telegram_id for person in PEOPLE}
        return [user for user in self.users.all() if user["telegram_id"] in ids]
