"""Telegram `reply_markup` validation, and what the transcript shows of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.common import bad_request
from sandbox.model import Buttons

CALLBACK_DATA_LIMIT = 64
# Inline buttons that do something other than send callback data or open a URL.
OTHER_INLINE_ACTIONS = frozenset(
    {
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
URL_SCHEMES = ("http://", "https://", "tg://")
CANT_PARSE = "can't parse reply keyboard markup JSON object"


@dataclass(frozen=True)
class Markup:
    """A parsed reply_markup: the inline keyboard to echo and the transcript's view of it."""

    echo: dict[str, Any] | None = None
    buttons: Buttons = field(default_factory=list)
    keyboard: list[list[dict[str, Any]]] = field(default_factory=list)
    ask: str | None = None
    remove_keyboard: bool = False
    one_time_keyboard: bool = False

    def entry_fields(self) -> dict[str, Any]:
        """Keyword arguments for a transcript Entry."""
        return {
            "buttons": self.buttons,
            "keyboard": self.keyboard,
            "ask": self.ask,
            "remove_keyboard": self.remove_keyboard,
            "one_time_keyboard": self.one_time_keyboard,
        }


def parse_markup(value: Any, inline_only: bool = False) -> Markup:
    """Validate a reply_markup object as Telegram does."""
    if value is None:
        return Markup()
    if not isinstance(value, dict):
        raise bad_request(CANT_PARSE)
    if "inline_keyboard" in value:
        return _inline(value["inline_keyboard"])
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in value:
        return _reply_keyboard(value["keyboard"], value.get("one_time_keyboard") is True)
    if value.get("remove_keyboard") is True:
        return Markup(remove_keyboard=True)
    if value.get("force_reply") is True:
        return Markup()
    raise bad_request(CANT_PARSE)


def _rows(value: Any) -> list[list[Any]]:
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise bad_request('field "keyboard" must be an Array of Arrays')
    return value


def _inline(value: Any) -> Markup:
    rows = _rows(value)
    buttons = [[_inline_button(button) for button in row] for row in rows]
    return Markup(echo={"inline_keyboard": rows}, buttons=buttons)


def _inline_button(button: Any) -> dict[str, str]:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    label = button["text"]
    data = button.get("callback_data")
    if data is not None:
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
            raise bad_request("BUTTON_DATA_INVALID")
        return {"label": label, "data": data}
    url = button.get("url")
    if url is not None:
        if not isinstance(url, str) or not url.startswith(URL_SCHEMES):
            raise bad_request("BUTTON_URL_INVALID")
        return {"label": label, "data": "", "url": url}
    if OTHER_INLINE_ACTIONS & button.keys():
        return {"label": label, "data": ""}
    raise bad_request(
        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
    )


def _reply_keyboard(value: Any, one_time: bool) -> Markup:
    keyboard = [[_reply_button(button) for button in row] for row in _rows(value)]
    asks = [button["request"] for row in keyboard for button in row if button["request"]]
    return Markup(keyboard=keyboard, ask=asks[0] if asks else None, one_time_keyboard=one_time)


def _reply_button(button: Any) -> dict[str, Any]:
    if isinstance(button, str):
        return {"label": button, "request": None}
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
    request = None
    if button.get("request_contact") is True:
        request = "contact"
    elif button.get("request_location") is True:
        request = "location"
    return {"label": button["text"], "request": request}
