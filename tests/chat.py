"""A simulated user for tests: talks to the bot through the emulators' control API."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import httpx

from core.channel import Platform
from sandbox.client import SandboxClient

Message = dict[str, Any]
_NUMBERED = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)
_LOCATION_LINK = re.compile(r"https?://\S+/vitri/[A-Za-z0-9_-]+")
_UPLOAD_LINK = re.compile(r"https?://\S+/tep/[A-Za-z0-9_-]+")


class User:
    """One person on one platform; methods send like a person would and return the replies."""

    def __init__(self, base_url: str, platform: str, user_id: str, name: str = "Nguyễn Văn An"):
        self.platform = Platform(platform)
        self.user_id = user_id
        self.name = name
        self.client = SandboxClient(base_url, platform)
        self.history: list[Message] = []

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def replies(self, count: int = 1, timeout: float = 10.0) -> list[Message]:
        """Wait for `count` new bot messages."""
        messages = await self.client.wait_for(self.user_id, count, timeout=timeout)
        self.history.extend(messages)
        return messages

    async def send(self, replies: int = 1, **fields: Any) -> list[Message]:
        """Send any update the control API knows, then wait for `replies` messages."""
        await self.client.send(self.user_id, display_name=self.name, **fields)
        return await self.replies(replies) if replies else []

    async def says(self, text: str, replies: int = 1) -> list[Message]:
        """Type a text (or a /command)."""
        return await self.send(replies, text=text)

    async def photo(self, data: bytes, replies: int = 1) -> list[Message]:
        """Send a photo."""
        return await self.send(replies, photo=base64.b64encode(data).decode())

    async def document(self, data: bytes, filename: str, replies: int = 1) -> list[Message]:
        """Send a file (Telegram; Zalo users send files through the upload page)."""
        return await self.send(replies, document=base64.b64encode(data).decode(), filename=filename)

    async def choose(self, label: str, replies: int = 1) -> list[Message]:
        """Pick an option: press the button on Telegram, type its number on Zalo."""
        message = next(m for m in reversed(self.history) if label in options_of(m, self.platform))
        if self.platform == "telegram":
            data = next(b["data"] for row in message["buttons"] for b in row if b["label"] == label)
            return await self.send(replies, callback_data=data, message_id=message["message_id"])
        return await self.says(str(options_of(message, self.platform).index(label) + 1), replies)

    async def share_phone(self, phone: str, replies: int = 1) -> list[Message]:
        """Share the phone number: the contact button on Telegram, typed on Zalo."""
        if self.platform == "telegram":
            assert self.history[-1]["ask"] == "contact"
            return await self.send(replies, contact={"phone_number": phone})
        return await self.says(phone, replies)

    async def share_location(
        self, lat: float, lon: float, accuracy: float | None = None, replies: int = 1
    ) -> list[Message]:
        """Confirm where they are: the location key on Telegram, the link's page on Zalo."""
        if self.platform == "telegram":
            assert self.history[-1]["ask"] == "location"
            place = {"latitude": lat, "longitude": lon, "horizontal_accuracy": accuracy}
            return await self.send(replies, location=place)
        response = await post_location(location_link(self.history[-1]), lat, lon, accuracy)
        assert response.status_code == 200, response.text
        return await self.replies(replies)


def location_link(message: Message) -> str:
    """The location page link in a bot message (Zalo)."""
    found = _LOCATION_LINK.search(message.get("text") or "")
    assert found, message
    return found.group(0)


async def post_location(
    link: str, lat: float, lon: float, accuracy: float | None = None
) -> httpx.Response:
    """Open the location page, then post the position as its script does."""
    async with httpx.AsyncClient() as http:
        page = await opened(http, link)
        assert page.status_code == 200 and "navigator.geolocation" in page.text, page.text
        return await http.post(link, json={"lat": lat, "lon": lon, "accuracy": accuracy})


def upload_link(message: Message) -> str:
    """The upload page link in a bot message (Zalo)."""
    found = _UPLOAD_LINK.search(message.get("text") or "")
    assert found, message
    return found.group(0)


async def post_upload(
    http: httpx.AsyncClient, link: str, data: bytes, filename: str
) -> httpx.Response:
    """Open the upload page, then send the file with its form as a phone's browser does."""
    page = await opened(http, link)
    assert page.status_code == 200 and 'type="file"' in page.text, page.text
    return await http.post(link, files={"file": (filename, data)})


async def opened(http: httpx.AsyncClient, link: str) -> httpx.Response:
    """The page of a link just received: the bot stores the link with the conversation right
    after its reply, so a test (faster than any thumb) may have to ask again."""
    for _ in range(40):
        page = await http.get(link)
        if page.status_code != 410:
            break
        await asyncio.sleep(0.05)
    return page


def options_of(message: Message, platform: str) -> list[str]:
    """The choices a bot message offers: inline buttons on Telegram, a numbered list on Zalo."""
    if platform == "telegram":
        return [button["label"] for row in message.get("buttons") or [] for button in row]
    return [label for _, label in _NUMBERED.findall(message.get("text") or "")]
