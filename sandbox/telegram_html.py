"""Telegram's `parse_mode=HTML`: reject what Telegram rejects, return the text users see."""

from __future__ import annotations

from html.parser import HTMLParser

ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "blockquote",
    }
)


class EntityError(ValueError):
    """The text is not valid Telegram HTML (Telegram: "can't parse entities")."""


class _TelegramHtml(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._lines = source.split("\n")
        self.parts: list[str] = []
        self.open_tags: list[str] = []

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        before = "\n".join(self._lines[: line - 1])
        prefix = f"{before}\n" if line > 1 else ""
        return len((prefix + self._lines[line - 1][:column]).encode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        spoiler = tag != "span" or ("class", "tg-spoiler") in attrs
        if tag not in ALLOWED_TAGS or not spoiler:
            raise EntityError(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        self.open_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        expected = self.open_tags[-1] if self.open_tags else None
        if tag != expected:
            raise EntityError(
                f"Unmatched end tag at byte offset {self._byte_offset()}, "
                f'expected "</{expected}>", found "</{tag}>"'
            )
        self.open_tags.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(source: str) -> str:
    """The plain text of a Telegram-HTML message, or EntityError with Telegram's reason."""
    parser = _TelegramHtml(source)
    parser.feed(source)
    parser.close()
    if parser.open_tags:
        tag = parser.open_tags[-1]
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{tag}"')
    return "".join(parser.parts)
