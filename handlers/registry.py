"""What each handler module answers: commands, button actions, typed codes, `/start` payloads.

A module registers its own entries when it is imported, as flows do; the router only looks
them up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.matching import fold
from handlers.context import Context

Handler = Callable[[Context], Awaitable[None]]
WithText = Callable[[Context, str], Awaitable[None]]
CodeHandler = Callable[[Context, str], Awaitable[bool]]  # False: no such code


@dataclass(frozen=True)
class Command:
    """A /command; `staff` ones (and those marked `in_groups`) also work in staff group chats."""

    run: Handler
    staff: bool = False
    in_groups: bool = False

    @property
    def for_groups(self) -> bool:
        """Whether staff may use it in a group chat."""
        return self.staff or self.in_groups


@dataclass(frozen=True)
class Action:
    """A button on a proactive message (a reminder, a page): it belongs to no conversation."""

    run: Handler
    in_groups: bool = False


@dataclass
class Registry:
    """Commands by name, actions and payloads by prefix, typed codes by prefix (several
    kinds of record share the "KB" codes: each handler is asked in turn), and what to do
    once a user who came with something to do has registered."""

    commands: dict[str, Command] = field(default_factory=dict)
    actions: dict[str, Action] = field(default_factory=dict)
    payloads: dict[str, WithText] = field(default_factory=dict)
    codes: dict[str, list[CodeHandler]] = field(default_factory=dict)
    after_signup: dict[str, WithText] = field(default_factory=dict)

    def command(
        self, *names: str, staff: bool = False, in_groups: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register a handler under a command and its aliases (e.g. "delete", "xoa")."""

        def register(run: Handler) -> Handler:
            for name in names:
                self.commands[name] = Command(run, staff, in_groups)
            return run

        return register

    def action(self, prefix: str, in_groups: bool = False) -> Callable[[Handler], Handler]:
        """Register a handler for button data starting with `prefix`."""

        def register(run: Handler) -> Handler:
            self.actions[prefix] = Action(run, in_groups)
            return run

        return register

    def payload(self, prefix: str) -> Callable[[WithText], WithText]:
        """Register a handler for `/start <prefix><rest>`; it gets `<rest>`."""

        def register(run: WithText) -> WithText:
            self.payloads[prefix] = run
            return run

        return register

    def code(self, prefix: str) -> Callable[[CodeHandler], CodeHandler]:
        """Register a handler for typed codes starting with `prefix` (e.g. "KB…")."""

        def register(run: CodeHandler) -> CodeHandler:
            self.codes.setdefault(prefix, []).append(run)
            return run

        return register

    def continuation(self, name: str) -> Callable[[WithText], WithText]:
        """Register what finishes a task (e.g. a scan) once its user has registered."""

        def register(run: WithText) -> WithText:
            self.after_signup[name] = run
            return run

        return register

    def command_named(self, typed: str) -> Command | None:
        """The command a typed name means, whatever its case and accents ("/Hủy" is /huy)."""
        return self.commands.get(typed) or self.commands.get(fold(typed).replace(" ", ""))

    def action_for(self, data: str) -> Action | None:
        """The action for a button's data, if it is an action button."""
        return next((a for prefix, a in self.actions.items() if data.startswith(prefix)), None)

    def payload_for(self, payload: str) -> tuple[WithText, str] | None:
        """The payload handler and the payload without its prefix."""
        for prefix, run in self.payloads.items():
            if payload.startswith(prefix):
                return run, payload.removeprefix(prefix)
        return None

    def codes_for(self, code: str) -> list[CodeHandler]:
        """The handlers that may know a normalised typed code, to ask in turn."""
        return [
            run for prefix, runs in self.codes.items() if code.startswith(prefix) for run in runs
        ]


REGISTRY = Registry()
