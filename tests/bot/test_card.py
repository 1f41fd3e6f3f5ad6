"""The contact card (连心卡): the PNG, its QR code read back by a real decoder, the Chinese font, and `lianxin card`."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageChops
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import card as contact_card
from bot import cli
from bot.card import CjkFont, covers_chinese, deep_link, find_cjk_font, render_card
from storage.db import Database
from storage.errors import NotFound
from storage.models import MailboxLink, Representative
from storage.records import mailbox
from storage.records.mailbox import CardData
from tests.bot.test_cli import in_parallel, lianxin, query, shown
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.factories import build_district

TOKEN = "vsw3QRpeuG7A6hs6Y8JgRQ"
LINK = f"https://t.me/lianxin_demo_bot?start=m_{TOKEN}"
CARD = CardData(
    representative_id=1,
    code="D001",
    name="王建国",
    level="district",
    station="幸福社区党代表工作站",
    station_address="幸福路1号",
    reception_day="每周三上午 9:00-11:30",
)
NAME_AREA = (50, 150, 610, 240)  # where the representative's name is drawn
LINK_PATTERN = re.compile(r"https://t\.me/lianxin_demo_bot\?start=m_([A-Za-z0-9_-]{1,24})")


def installed_chinese_fonts() -> list[str]:
    if shutil.which("fc-list") is None:
        return []
    listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False)
    return [line for line in listed.stdout.splitlines() if line.strip()]


needs_chinese_font = pytest.mark.skipif(
    not installed_chinese_fonts(), reason="no Chinese font installed (apt-get install fonts-wqy-zenhei)"
)


def decoded(png: bytes) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """How many pixels in `box` are not the white background."""
    area = image.convert("L").crop(box)
    return sum(area.histogram()[:200])


# --- the link and the picture -------------------------------------------------------------------------------


def test_deep_link_is_a_telegram_start_link() -> None:
    token = mailbox.new_token()
    link = deep_link("lianxin_demo_bot", token)
    match = LINK_PATTERN.fullmatch(link)
    assert match is not None and match.group(1) == token
    assert len(mailbox.start_parameter(token)) <= 64


@pytest.mark.parametrize("with_font", [True, False])
def test_card_is_a_png_whose_qr_code_is_exactly_the_deep_link(with_font: bool) -> None:
    font = find_cjk_font() if with_font else None
    png = render_card(CARD, link=LINK, font=font)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (1000, 600)
    assert 5_000 < len(png) < 500_000
    assert decoded(png) == [LINK]


def test_long_details_stay_on_the_card_and_the_code_still_reads() -> None:
    long = CardData(
        representative_id=2,
        code="T001",
        name="欧阳娜娜·买买提艾力" * 3,
        level="township",
        station="青溪经济开发区党代表工作站" * 4,
        station_address="青溪镇" * 30,
        reception_day="每月第一个周二上午 9:00-11:30、第三个周四下午 2:30-5:00（节假日顺延）",
    )
    png = render_card(long, link=LINK, font=find_cjk_font())
    assert decoded(png) == [LINK]
    english = render_card(long, link=LINK, language="en", font=find_cjk_font())
    assert decoded(english) == [LINK]


@needs_chinese_font
def test_an_installed_chinese_font_is_found_and_draws_chinese() -> None:
    font = find_cjk_font()
    assert font is not None, installed_chinese_fonts()
    assert font.path.is_file() and covers_chinese(font)
    first = Image.open(io.BytesIO(render_card(CARD, link=LINK, font=font)))
    other = CardData(**{**CARD.__dict__, "name": "李红梅"})
    second = Image.open(io.BytesIO(render_card(other, link=LINK, font=font)))
    assert ink(first, NAME_AREA) > 1_000  # the name is drawn
    # Without Chinese glyphs every character is the same box, so two names of three characters would look alike.
    assert ImageChops.difference(first.crop(NAME_AREA), second.crop(NAME_AREA)).getbbox() is not None


@needs_chinese_font
def test_a_configured_font_wins_and_a_bad_one_is_passed_over(tmp_path: Path) -> None:
    found = find_cjk_font()
    assert found is not None
    assert find_cjk_font(str(found.path)) == CjkFont(found.path)
    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_bytes(b"not a font")
    assert find_cjk_font(str(not_a_font)) == found
    assert find_cjk_font(str(tmp_path / "missing.ttc")) == found


def test_a_font_without_chinese_is_not_taken_for_one() -> None:
    latin = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not latin.is_file():
        pytest.skip("DejaVu Sans is not installed")
    assert not covers_chinese(CjkFont(latin))


def test_without_a_chinese_font_the_card_is_still_drawn() -> None:
    image = Image.open(io.BytesIO(render_card(CARD, link=LINK, font=None)))
    assert image.size == (1000, 600)
    assert ink(image, NAME_AREA) > 0  # boxes where the characters would be, but the layout stands


# --- lianxin card -------------------------------------------------------------------------------------------


@pytest.fixture
def store(database_url: str) -> str:
    """The URL of a store with the small test district (D001 王建国, D002 李红梅, T001 张伟)."""

    async def build() -> None:
        if POSTGRES_URL:
            await reset_postgres(database_url)
        database = Database(database_url)
        try:
            await database.upgrade()
            await build_district(database)
        finally:
            await database.dispose()

    asyncio.run(build())
    return database_url


def active_tokens(url: str, code: str) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        statement = (
            select(MailboxLink.token)
            .join(Representative, Representative.id == MailboxLink.representative_id)  # type: ignore[arg-type]
            .where(Representative.code == code, MailboxLink.revoked_at == None)  # noqa: E711
        )
        return list((await session.exec(statement)).all())

    return query(url, work)


def refusal(url: str, token: str) -> str:
    async def work(session: AsyncSession) -> str:
        try:
            await mailbox.representative_for_token(session, token=token)
        except NotFound as refused:
            return refused.key
        return ""

    return query(url, work)


def printed_token(output: str) -> str:
    match = LINK_PATTERN.search(output)
    assert match is not None, output
    return match.group(1)


def test_card_command_draws_reuses_renews_and_revokes(store: str, tmp_path: Path) -> None:
    first_png, second_png = tmp_path / "连心卡.png", tmp_path / "again.png"
    first = lianxin("card", "D001", "--out", str(first_png), "--db", store)
    assert first.returncode == 0, shown(first)
    assert f"已生成党代表 D001（王建国）的连心卡：{first_png}" in first.stdout, shown(first)
    token = printed_token(first.stdout)
    assert decoded(first_png.read_bytes()) == [f"https://t.me/lianxin_demo_bot?start=m_{token}"]
    assert active_tokens(store, "D001") == [token]

    again = lianxin("card", "d001", "--out", str(second_png), "--db", store)
    assert again.returncode == 0, shown(again)
    assert printed_token(again.stdout) == token  # printed cards stay valid
    assert "沿用同一个链接" in again.stdout

    renewed = lianxin("card", "D001", "--out", str(second_png), "--renew", "--db", store)
    assert renewed.returncode == 0, shown(renewed)
    new_token = printed_token(renewed.stdout)
    assert new_token != token and "旧卡片上的二维码不再有效" in renewed.stdout
    assert decoded(second_png.read_bytes()) == [f"https://t.me/lianxin_demo_bot?start=m_{new_token}"]
    assert refusal(store, token) == "mailbox.error.revoked_link"
    assert refusal(store, new_token) == ""

    revoked = lianxin("card", "D001", "--revoke", "--db", store)
    assert revoked.returncode == 0, shown(revoked)
    assert "已停用党代表 D001（王建国）的1个信箱链接" in revoked.stdout, shown(revoked)
    assert refusal(store, new_token) == "mailbox.error.revoked_link"
    assert active_tokens(store, "D001") == []


def test_card_command_refusals(store: str, tmp_path: Path) -> None:
    target = tmp_path / "card.png"
    unknown, no_out, wrong_suffix, both_flags, revoke_with_out = in_parallel(
        lambda: lianxin("card", "D999", "--out", str(target), "--db", store),
        lambda: lianxin("card", "D001", "--db", store),
        lambda: lianxin("card", "D001", "--out", str(tmp_path / "card.jpg"), "--db", store),
        lambda: lianxin("card", "D001", "--out", str(target), "--renew", "--revoke", "--db", store),
        lambda: lianxin("card", "D001", "--out", str(target), "--revoke", "--db", store),
    )
    assert unknown.returncode == 1, shown(unknown)
    assert "找不到编号为 D999 的党代表" in unknown.stderr and "Traceback" not in unknown.stderr, shown(unknown)
    assert no_out.returncode == 2 and "请用 --out 指定卡片图片文件" in no_out.stderr, shown(no_out)
    assert wrong_suffix.returncode == 2 and "只能保存为 .png 文件" in wrong_suffix.stderr, shown(wrong_suffix)
    assert both_flags.returncode == 2 and "不能同时使用" in both_flags.stderr, shown(both_flags)
    assert revoke_with_out.returncode == 2, shown(revoke_with_out)
    assert not target.exists()
    assert active_tokens(store, "D001") == []  # nothing was issued or withdrawn

    async def leave(session: AsyncSession) -> None:
        representative = (await session.exec(select(Representative).where(Representative.code == "D002"))).one()
        representative.active = False
        session.add(representative)

    query(store, leave)
    gone = lianxin("card", "D002", "--out", str(target), "--db", store)
    assert gone.returncode == 1, shown(gone)
    assert "党代表 D002 已不在任，不能生成连心卡" in gone.stderr, shown(gone)
    assert not target.exists()


def test_card_command_warns_how_to_install_a_chinese_font(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(contact_card, "find_cjk_font", lambda configured="": None)
    target = tmp_path / "card.png"
    cli.card_command("D001", out=target, renew=False, revoke=False, font=None, lang=None, db=store, config=None)
    captured = capsys.readouterr()
    assert "没有找到中文字体" in captured.err
    assert "apt-get install fonts-wqy-zenhei" in captured.err and "fonts-noto-cjk" in captured.err
    assert "已生成党代表 D001" in captured.out
    assert decoded(target.read_bytes()) == [f"https://t.me/lianxin_demo_bot?start=m_{printed_token(captured.out)}"]


def test_card_command_says_when_the_given_font_cannot_be_used(store: str, tmp_path: Path) -> None:
    result = lianxin(
        "card", "T001", "--out", str(tmp_path / "card.png"), "--font", str(tmp_path / "missing.ttf"), "--db", store
    )
    assert result.returncode == 0, shown(result)
    assert f"指定的字体 {tmp_path / 'missing.ttf'} 不存在或不含中文字形" in result.stderr, shown(result)
    assert (tmp_path / "card.png").is_file()
