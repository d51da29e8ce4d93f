"""An async test harness for the sandbox's control API (used by tests and benchmarks)."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

# Wait at most this long per long-poll request; the server caps it further.
POLL_SLICE = 10.0
FILE_FIELDS = ("photo", "document")


class SandboxClient:
    """Plays simulated users on one platform and reads what the bot sent them."""

    def __init__(self, base_url: str, platform: str) -> None:
        self.platform = platform
        self._http = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(70.0))
        self._cursors: dict[str, int] = {}

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.is_error:
            raise AssertionError(
                f"{response.request.method} {response.request.url} -> "
                f"{response.status_code}: {response.text}"
            )
        return response.json()

    async def send(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Deliver a user action (`text=`, `photo=` bytes or base64, `callback_data=`...)."""
        for name in FILE_FIELDS:
            if isinstance(fields.get(name), bytes):
                fields[name] = base64.b64encode(fields[name]).decode()
        response = await self._http.post(
            f"/control/{self.platform}/send", json={"user_id": user_id, **fields}
        )
        result: dict[str, Any] = self._json(response)
        return result

    async def migrate(self, chat_id: str, user_id: str) -> dict[str, Any]:
        """Upgrade a Telegram group as `user_id`; the answer holds its new `migrate_to_chat_id`."""
        response = await self._http.post(
            f"/control/{self.platform}/chats/{chat_id}/migrate", json={"user_id": user_id}
        )
        result: dict[str, Any] = self._json(response)
        return result

    async def _page(
        self, chat_id: str, after: int, wait: float, include_user: bool = False
    ) -> tuple[list[dict[str, Any]], int]:
        params: dict[str, Any] = {"after": after, "wait": wait}
        if include_user:
            params["include_user"] = "true"
        response = await self._http.get(
            f"/control/{self.platform}/chats/{chat_id}/messages", params=params
        )
        body = self._json(response)
        return body["messages"], body["last"]

    async def messages(self, chat_id: str, after: int = 0, wait: float = 0) -> list[dict[str, Any]]:
        """Bot messages of a chat with seq > after, long-polling up to `wait` seconds."""
        found, _ = await self._page(chat_id, after, wait)
        return found

    async def wait_for(
        self, chat_id: str, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """The next `count` bot messages this client has not returned yet for the chat."""
        deadline = time.monotonic() + timeout
        cursor = self._cursors.get(chat_id, 0)
        found: list[dict[str, Any]] = []
        while True:
            page, _ = await self._page(chat_id, cursor, 0)
            found = page[:count]
            remaining = deadline - time.monotonic()
            if len(found) >= count or remaining <= 0:
                break
            # Long-poll only for the first missing message; then re-read from the cursor.
            after = found[-1]["seq"] if found else cursor
            await self._page(chat_id, after, min(remaining, POLL_SLICE))
        if len(found) < count:
            raise AssertionError(await self._timeout_report(chat_id, count, found, timeout))
        self._cursors[chat_id] = found[-1]["seq"]
        return found

    async def _timeout_report(
        self, chat_id: str, count: int, found: list[dict[str, Any]], timeout: float
    ) -> str:
        transcript, _ = await self._page(chat_id, 0, 0, include_user=True)
        failed = [call for call in await self.calls() if not call["ok"]]
        lines = [
            f"expected {count} new bot message(s) in {self.platform} chat {chat_id} "
            f"within {timeout}s, got {len(found)}",
            "transcript:",
            *(
                f"  #{entry['seq']} {entry['from']:>4} {entry['kind']}: "
                f"{entry['text'] or entry['caption']!r}"
                for entry in transcript
            ),
            f"already consumed up to seq {self._cursors.get(chat_id, 0)}",
            "failed API calls:",
            *(f"  {call['method']} -> {call['error_code']}" for call in failed[-10:]),
        ]
        return "\n".join(lines)

    async def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """The API calls the bot made (optionally of one method)."""
        params = {"method": method} if method else {}
        calls: list[dict[str, Any]] = self._json(
            await self._http.get(f"/control/{self.platform}/calls", params=params)
        )
        return calls

    async def stats(self) -> dict[str, Any]:
        """The emulator's counters: calls, throttled (429s given), rate_limit_per_s."""
        stats: dict[str, Any] = self._json(await self._http.get(f"/control/{self.platform}/stats"))
        return stats

    async def configure(self, **cfg: Any) -> None:
        """POST /control/{platform}/config (rate_limit_per_s, fail, Zalo switches)."""
        self._json(await self._http.post(f"/control/{self.platform}/config", json=cfg))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
