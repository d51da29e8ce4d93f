"""What both platform adapters do the same way: text and command parsing."""

from __future__ import annotations

from dataclasses import replace

from core.channel import Incoming, Kind, parse_command


def text_incoming(base: Incoming, text: str) -> Incoming:
    """`base` as a TEXT update, or as a COMMAND one when `text` is a /command."""
    parsed = parse_command(text)
    if parsed is None:
        return replace(base, kind=Kind.TEXT, text=text)
    command, payload = parsed
    return replace(base, kind=Kind.COMMAND, text=text, command=command, payload=payload)
