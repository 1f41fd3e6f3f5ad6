"""The console channel: one person at a terminal, or a script of messages on standard input, one per line."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from handlers.events import Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.router import Router
from storage.delivery import outbox
from storage.models import utcnow
from storage.records import people

CHANNEL = "console"


class ConsoleChannel:
    """Renders buttons as numbered options (the number or the label is the answer) and reads special commands
    for what a phone would send: /photo PATH, /file PATH, /location LAT LON, /contact PHONE."""

    def __init__(self, router: Router, *, user: str, language: str, output: TextIO = sys.stdout) -> None:
        self.router = router
        self.user = user
        self.language = language
        self.output = output
        self._event_ids = itertools.count(1)

    def to_inbound(self, line: str) -> Inbound | str:
        """The inbound event for a typed line, or a console message explaining why it cannot be sent."""
        head, _, rest = line.strip().partition(" ")
        if head == "/photo":
            path = Path(rest.strip()).expanduser()
            if not rest.strip() or not path.is_file():
                return t(self.language, "console.no_photo", path=rest.strip())
            return self._event(kind="photo", photo=f"file:{path.resolve()}")
        if head == "/file":
            path = Path(rest.strip()).expanduser()
            if not rest.strip() or not path.is_file():
                return t(self.language, "console.no_file", path=rest.strip())
            return self._event(kind="document", document=f"file:{path.resolve()}")
        if head == "/location":
            try:
                latitude, longitude = (float(part) for part in rest.replace(",", " ").split())
            except ValueError:
                return t(self.language, "console.bad_location")
            return self._event(kind="location", latitude=latitude, longitude=longitude)
        if head == "/contact":
            if not rest.strip():
                return t(self.language, "console.bad_contact")
            return self._event(kind="contact", phone=rest.strip())
        return self._event(kind="text", text=line.rstrip("\n"))

    def _event(
        self,
        *,
        kind: InputKind,
        text: str = "",
        photo: str = "",
        document: str = "",
        phone: str = "",
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> Inbound:
        return Inbound(
            channel=CHANNEL,
            chat_id=self.user,
            user_id=self.user,
            event_id=f"console-{next(self._event_ids)}",
            kind=kind,
            text=text,
            photo=photo,
            document=document,
            phone=phone,
            latitude=latitude,
            longitude=longitude,
        )

    def render(self, reply: Reply) -> str:
        lines = [reply.text]
        lines += [f"  {number}. {button.label}" for number, button in enumerate(reply.buttons, start=1)]
        if reply.ask is not None:
            lines.append(t(self.language, f"console.ask_{reply.ask}"))
        return "\n".join(lines)

    async def send(self, line: str) -> list[Reply]:
        inbound = self.to_inbound(line)
        if isinstance(inbound, str):
            return [Reply(inbound)]
        replies = await self.router.handle(inbound)
        self.language = await self._current_language()  # the console's own hints follow a /lang choice
        return replies

    async def waiting(self) -> list[Reply]:
        """Notices queued for this console identity (a resident's letter to the demo representative, say), now
        shown and marked sent: a console has no sender that would deliver them."""
        async with self.router.db.transaction() as session:
            payloads = await outbox.deliver_here(session, channel=CHANNEL, chat_key=self.user, now=utcnow())
        if not payloads:
            return []
        return [Reply(t(self.language, "console.waiting", count=len(payloads)))] + [
            self._file(kind, payload) if kind in outbox.FILE_KINDS else Reply.from_payload(payload)
            for kind, payload in payloads
        ]

    def _file(self, kind: str, payload: dict[str, Any]) -> Reply:
        """A terminal shows no picture or file: it names where it is, under its caption."""
        where = t(self.language, f"console.sent_{kind}", path=str(payload.get("path", "")))
        caption = str(payload.get("caption", ""))
        return Reply(f"{caption}\n{where}" if caption else where)

    async def _current_language(self) -> str:
        async with self.router.db.transaction() as session:
            return await people.language_of(session, channel=CHANNEL, external_id=self.user) or self.language

    def show(self, replies: list[Reply]) -> None:
        for reply in replies:
            print(self.render(reply), file=self.output)
            print(file=self.output)
        self.output.flush()

    async def run_script(self, lines: Iterable[str]) -> None:
        """Scripted use: what waited is shown first; every message is echoed after "> " and followed by every
        reply."""
        self.show(await self.waiting())
        for line in lines:
            if not line.strip():
                continue
            print(f"> {line.rstrip()}", file=self.output)
            self.show(await self.send(line))

    async def run_interactive(self) -> None:
        print(t(self.language, "console.intro"), file=self.output)
        self.show(await self.waiting())
        while True:
            try:
                line = await asyncio.to_thread(input, "> ")
            except (EOFError, KeyboardInterrupt):
                print(file=self.output)
                return
            if line.strip() in ("/quit", "/exit"):
                return
            if line.strip():
                self.show(await self.send(line))
