"""The leaders' weekly digest: a series `digest-week` due on `digest.weekday` at `digest.at` local time for the ISO
week just ended (digest-week:2026-W49), which plans the next week's and fans out one item per reader
(digest:2026-W49:staff-3, digest:2026-W49:rep-17). Each sends its reader, in every chat they have bound, the text,
the chart and the spreadsheet of their scope in that chat's language; the files are written under
`digest.files_dir`/<week>/, one chart and one sheet per scope and language, shared by the readers who share them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from handlers import digest_files
from handlers.digest import digest_text
from handlers.digest_files import DigestFiles
from handlers.events import Reply
from scheduler.engine import Job, JobContext, Skip, Starter
from storage.errors import NotFound
from storage.exchange import digest_figures, digest_scope
from storage.exchange.digest_scope import Reader, Week
from storage.models import DueItem
from storage.records import schedule
from storage.records.schedule import Planned

SERIES, ITEM = "digest-week", "digest"


def due_at(ctx: JobContext, week: Week) -> datetime:
    """When the digest of `week` goes out: on `digest.weekday` of the week after, at `digest.at` local time."""
    day = week.monday + timedelta(days=7 + ctx.settings.digest.weekday - 1)
    return ctx.at(day, ctx.settings.digest.at)


def series_item(ctx: JobContext, week: Week) -> Planned:
    # No expiry: however late a tick comes (the scheduler was down for days), the series must go on to the next
    # week. The readers' items expire instead, so that a digest weeks late is skipped, with the reason.
    return Planned(key=f"{SERIES}:{week.key}", kind=SERIES, due_at=due_at(ctx, week), payload={"week": week.key})


async def start(ctx: JobContext) -> None:
    """The first digest: the one of the week just ended, if its hour has not come yet, else next week's."""
    if await schedule.exists(ctx.session, kind=SERIES):
        return
    week = Week.of(ctx.today).previous()
    if due_at(ctx, week) < ctx.now:
        week = week.next()
    ctx.plan(series_item(ctx, week))


async def fan_out(ctx: JobContext, item: DueItem) -> None:
    """Plan next week's digest, and one item per reader, due now (this tick sends them)."""
    week = Week.parse(str(item.payload["week"]))
    ctx.plan(series_item(ctx, week.next()))
    expires = ctx.expires("digest", item.due_at)
    for reader in await digest_scope.readers(ctx.session):
        ctx.plan(
            Planned(
                key=f"{ITEM}:{week.key}:{reader.key}",
                kind=ITEM,
                due_at=ctx.now,
                expires_at=expires,
                payload={"week": week.key, "reader": reader.key},
            )
        )


async def send(ctx: JobContext, item: DueItem) -> None:
    """One reader's digest, as they stand now: one who is no longer a reader is skipped."""
    week = Week.parse(str(item.payload["week"]))
    key = str(item.payload["reader"])
    found = await digest_scope.readers(ctx.session, key=key)
    if not found:
        raise Skip("digest_not_a_reader", reader=key)
    await send_to(ctx, found[0], week)


async def send_to(
    ctx: JobContext, reader: Reader, week: Week, *, made: dict[tuple[str, str], DigestFiles] | None = None
) -> int:
    """Queue the digest of `week` for every chat of `reader` (text, chart, spreadsheet); returns the chats told.

    Without `made`, files already written for this week, scope and language are reused (the readers of one tick
    share them); with it (`lianxin digest --send`), they are made anew once per scope and language and kept there."""
    chats = [identity for identity in reader.identities if identity.blocked_at is None]
    if not chats:
        raise Skip("digest_no_chat", reader=reader.key)
    try:
        figures = await digest_figures.figures(
            ctx.session,
            scope=reader.scope,
            week=week,
            today=ctx.today,
            settings=ctx.settings,
            calendar=ctx.calendar,
        )
    except NotFound:
        raise Skip("digest_unknown_scope", reader=reader.key, scope=reader.scope.key) from None
    # Finding the font runs fc-match and draws test glyphs; drawing and writing the files is slow too: in a thread,
    # so that the bot's other work goes on meanwhile.
    font = await asyncio.to_thread(digest_files.cjk_font, ctx.settings.card.font)
    directory = ctx.settings.digest.files_dir / week.key
    files: dict[str, DigestFiles] = {}
    for language in sorted({ctx.language(chat) for chat in chats}):
        cached = (reader.scope.key, language)
        if made is not None and cached in made:
            files[language] = made[cached]
            continue
        files[language] = await asyncio.to_thread(
            digest_files.make_files, directory, figures, language, font=font, reuse=made is None
        )
        if made is not None:
            made[cached] = files[language]
    for chat in chats:
        language = ctx.language(chat)
        ctx.send(chat, Reply(digest_text(language, figures, ctx.settings)).to_payload())
        for kind, payload in digest_files.payloads(files[language], figures, language):
            ctx.send(chat, payload, kind=kind)
    return len(chats)


JOBS: dict[str, Job] = {SERIES: fan_out, ITEM: send}
STARTERS: tuple[Starter, ...] = (start,)
