"""Organisations and checkpoints: storage, signed QR tokens, posters, and the set-up CLI."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageFilter

from bot.app import Service
from core.checkpoints import (
    checkpoint_link,
    checkpoint_token,
    landing_url,
    qr_target,
    read_checkpoint_token,
    start_payload,
    verify_checkpoint,
)
from core.models import Checkpoint, CheckpointKind, Organisation
from core.posters import PosterItem, poster_pdf, poster_png
from core.tokens import InvalidToken, Keyring, new_id
from storage.database import Storage
from tests.conftest import TEST_SECRET_KEY
from tests.test_staff import Done

NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
KEYS = Keyring(TEST_SECRET_KEY.encode())
TELEGRAM_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def an_org(name: str = "Công ty TNHH May mặc Tân Hà", area: str = "tan-ha") -> Organisation:
    """An organisation, not stored yet."""
    return Organisation(id=new_id(), name=name, area=area, created_by="test", created_at=NOW)


def a_checkpoint(
    org: Organisation, name: str = "Xe 51B-123.45", code: str = "KB7F3K9QXM"
) -> Checkpoint:
    """A bus checkpoint of `org`, not stored yet."""
    return Checkpoint(
        id=new_id(),
        org_id=org.id,
        kind=CheckpointKind.BUS,
        name=name,
        area=org.area,
        code=code,
        created_by="test",
        created_at=NOW,
    )


async def test_organisations_are_listed_by_area_renamed_and_retired(storage: Storage) -> None:
    await storage.ensure_indexes()
    garment, market = an_org(), an_org("Chợ Suối Ngô", "suoi-ngo")
    assert await storage.orgs.add(garment) == garment
    assert await storage.orgs.add(garment) == garment  # a re-run stores nothing new
    await storage.orgs.add(market)
    assert [o.id for o in await storage.orgs.list("tan-ha")] == [garment.id]
    assert [o.name for o in await storage.orgs.list()] == ["Chợ Suối Ngô", garment.name]
    renamed = await storage.orgs.rename(garment.id, "Công ty May Tân Hà")
    assert renamed is not None and renamed.name == "Công ty May Tân Hà"
    retired = await storage.orgs.retire(garment.id)
    assert retired is not None and retired.retired
    assert await storage.orgs.rename(garment.id, "Khác") is None
    assert await storage.orgs.get("000000000000") is None


async def test_a_taken_code_is_drawn_again_and_revoking_moves_the_version_on(
    storage: Storage,
) -> None:
    await storage.ensure_indexes()
    org = await storage.orgs.add(an_org())
    bus = await storage.checkpoints.add(a_checkpoint(org))
    canteen = await storage.checkpoints.add(a_checkpoint(org, "Nhà ăn ca 1", code=bus.code))
    assert canteen.code != bus.code and canteen.code.startswith("KB")
    assert await storage.checkpoints.add(bus) == bus  # a re-run keeps the stored one
    assert await storage.checkpoints.by_code(canteen.code) == canteen
    assert [c.name for c in await storage.checkpoints.of_org(org.id)] == [
        "Nhà ăn ca 1",
        "Xe 51B-123.45",
    ]
    assert len(await storage.checkpoints.list("tan-ha")) == 2
    assert await storage.checkpoints.list("suoi-ngo") == []

    revoked = await storage.checkpoints.revoke(bus.id)
    assert revoked is not None and revoked.version == bus.version + 1
    assert revoked.code != bus.code and await storage.checkpoints.by_code(bus.code) is None
    renamed = await storage.checkpoints.rename(bus.id, "Xe 51B-678.90")
    assert renamed is not None and (renamed.name, renamed.version) == ("Xe 51B-678.90", 1)
    assert (await storage.checkpoints.retire(bus.id)) is not None
    assert await storage.checkpoints.revoke(bus.id) is None


def test_a_checkpoint_token_fits_telegram_and_refuses_forged_revoked_and_retired() -> None:
    checkpoint = a_checkpoint(an_org())
    token = checkpoint_token(KEYS, checkpoint)
    payload = start_payload(token)
    assert len(payload) <= 64 and set(payload) <= TELEGRAM_ALPHABET
    verify_checkpoint(KEYS, token, checkpoint, NOW)
    assert read_checkpoint_token(KEYS, token, NOW).id == checkpoint.id

    rotated = Keyring(b"a-new-secret-key-0123456789-abcdefghijk", (KEYS.current,))
    verify_checkpoint(rotated, token, checkpoint, NOW)  # old posters survive a key rotation
    # A character inside the token: the last one also holds padding bits a decoder drops.
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    for forged, keys in [
        (tampered, KEYS),
        (token, Keyring(b"someone-else-0123456789-abcdefghijklmnop")),
        (checkpoint_token(KEYS, a_checkpoint(an_org())), KEYS),  # another checkpoint's
        ("not a token", KEYS),
    ]:
        with pytest.raises(InvalidToken) as refused:
            verify_checkpoint(keys, forged, checkpoint, NOW)
        assert refused.value.reason == "forged"
    changes: list[tuple[dict[str, Any], str]] = [
        ({"version": 1}, "revoked"),
        ({"retired": True}, "retired"),
    ]
    for changed, reason in changes:
        with pytest.raises(InvalidToken) as refused:
            verify_checkpoint(KEYS, token, checkpoint.model_copy(update=changed), NOW)
        assert refused.value.reason == reason


def test_the_qr_points_to_the_landing_page_when_there_is_a_public_url() -> None:
    token = checkpoint_token(KEYS, a_checkpoint(an_org()))
    assert qr_target(token, "https://kb.example.vn/", "kb_bot") == landing_url(
        "https://kb.example.vn", token
    )
    assert landing_url("https://kb.example.vn/", token) == f"https://kb.example.vn/q/{token}"
    assert qr_target(token, None, "kb_bot") == checkpoint_link("kb_bot", token)
    assert checkpoint_link("kb_bot", token) == f"https://t.me/kb_bot?start=cp_{token}"


def poster_item(name: str = "Xe 51B-123.45") -> PosterItem:
    """A poster of a bus checkpoint whose QR opens the Telegram bot."""
    org = an_org()
    checkpoint = a_checkpoint(org, name)
    url = checkpoint_link("khaibao_sandbox_bot", checkpoint_token(KEYS, checkpoint))
    return PosterItem(org, checkpoint, "Xã Tân Hà", url)


def decoded(image: Image.Image) -> list[str]:
    """Every QR code zxing-cpp reads in an image."""
    return [found.text for found in zxingcpp.read_barcodes(image)]


def perspective(image: Image.Image, corners: list[tuple[float, float]]) -> Image.Image:
    """The image seen at an angle: output corners (tl, tr, br, bl) show the input's corners."""
    w, h = image.size
    source = [(0, 0), (w, 0), (w, h), (0, h)]
    rows = []
    for (x, y), (u, v) in zip(corners, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coefficients = np.linalg.solve(np.array(rows, float), np.array(source, float).reshape(8))
    return image.transform(
        image.size, Image.Transform.PERSPECTIVE, tuple(coefficients), Image.Resampling.BICUBIC
    )


def phone_photo(png: bytes) -> Image.Image:
    """A hand-held phone photo of a printed poster: tilted, rotated, unevenly lit, blurred, JPEG."""
    poster = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = poster.size
    seen = perspective(poster, [(90, 40), (w - 40, 110), (w - 90, h - 30), (30, h - 120)])
    seen = seen.rotate(5, Image.Resampling.BICUBIC, fillcolor=(60, 60, 60))
    light = np.linspace(1.0, 0.65, w)[None, :, None]  # a window on one side
    lit = Image.fromarray((np.asarray(seen, float) * light).astype(np.uint8))
    blurred = lit.filter(ImageFilter.GaussianBlur(1.5))
    buffer = io.BytesIO()
    blurred.save(buffer, "JPEG", quality=60)
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_the_poster_png_decodes_back_also_from_a_phone_photo() -> None:
    item = poster_item()
    png = poster_png(item)
    image = Image.open(io.BytesIO(png))
    assert image.size == (1240, 1754)  # A4 at 150 dpi
    assert decoded(image) == [item.url]
    assert decoded(phone_photo(png)) == [item.url]


def test_decomposed_vietnamese_draws_as_composed() -> None:
    nfd = unicodedata.normalize("NFD", "Xe đưa đón Ấp Kiểm")
    composed = unicodedata.normalize("NFC", nfd)
    assert nfd != composed
    item = poster_item(composed)
    typed = item.checkpoint.model_copy(update={"name": nfd})
    assert poster_png(PosterItem(item.org, typed, item.area_name, item.url)) == poster_png(item)


def test_the_pdf_has_one_page_per_checkpoint_with_the_font_embedded() -> None:
    pdf = poster_pdf([poster_item(), poster_item("Nhà ăn ca 1")])
    assert pdf.startswith(b"%PDF")
    assert b"/Count 2" in pdf
    assert pdf.count(b"/FontFile2") == 2  # both DejaVu Sans faces, embedded as subsets
    assert b"/ToUnicode" in pdf  # so the Vietnamese text can be extracted back


async def bot_cli(
    mongo_uri: str, storage: Storage, data_dir: Path, *args: str, public_url: str = ""
) -> Done:
    """Run `python -m bot ...` against the test database, as an operator would."""
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": storage.db.name,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": TEST_SECRET_KEY,
        "TELEGRAM_BOT_TOKEN": "",
        "ZALO_BOT_TOKEN": "",
        "PUBLIC_BASE_URL": public_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return Done(process.returncode or 0, stdout.decode(), stderr.decode())


def last_line(done: Done) -> str:
    """The id a successful `add` printed last."""
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


async def test_the_cli_sets_up_an_organisation_and_checkpoints_and_prints_posters(
    storage: Storage, mongo_uri: str, tmp_path: Path
) -> None:
    async def run(*args: str) -> Done:
        return await bot_cli(mongo_uri, storage, tmp_path, *args)

    typed = unicodedata.normalize("NFD", " Công ty May Tân Hà ")  # as some terminals send it
    org_id = last_line(await run("org", "add", "--name", typed, "--area", "TAN HA"))
    listed = await run("org", "list", "--area", "tan-ha")
    assert f"{org_id}\tcompany\ttan-ha\tlive\tCông ty May Tân Hà" in listed.stdout

    added = await run(
        "checkpoint", "add", "--org", org_id, "--kind", "bus", "--name", "Xe 51B-123.45"
    )
    checkpoint_id = last_line(added)
    checkpoint = await storage.checkpoints.get(checkpoint_id)
    assert checkpoint is not None and (checkpoint.area, checkpoint.kind) == ("tan-ha", "bus")
    link = checkpoint_link("khaibao_sandbox_bot", checkpoint_token(KEYS, checkpoint))
    assert f"Telegram: {link}" in added.stdout and checkpoint.code in added.stdout
    canteen = await run(
        "checkpoint",
        "add",
        "--org",
        org_id,
        "--kind",
        "canteen",
        "--name",
        "Nhà ăn",
        "--area",
        "tân hà",
    )
    rows = (await run("checkpoint", "list", "--org", org_id)).stdout.splitlines()
    assert [row.split("\t")[0] for row in rows[1:]] == [last_line(canteen), checkpoint_id]
    actions = [entry.action for entry in await storage.audit.latest(10)]
    assert actions == ["checkpoint.add", "checkpoint.add", "org.add"]

    png, pdf = tmp_path / "xe.png", tmp_path / "all.pdf"
    assert (await run("checkpoint", "poster", checkpoint_id, "--out", str(png))).returncode == 0
    assert decoded(Image.open(png)) == [link]
    printed = await run("checkpoint", "poster", "--org", org_id, "--out", str(pdf))
    assert "wrote 2 poster(s)" in printed.stdout and b"/Count 2" in pdf.read_bytes()

    revoked = await run("checkpoint", "revoke", checkpoint_id)
    assert "print new ones (version 1)" in revoked.stdout
    assert (await run("checkpoint", "retire", checkpoint_id)).returncode == 0
    again = await run("checkpoint", "revoke", checkpoint_id)
    assert again.returncode != 0 and "no live checkpoint" in again.stderr
    latest = [(e.action, e.allowed) for e in await storage.audit.latest(3)]
    assert latest == [
        ("checkpoint.revoke", False),
        ("checkpoint.retire", True),
        ("checkpoint.revoke", True),
    ]


async def test_the_cli_refuses_unknown_areas_organisations_and_outputs(
    storage: Storage, mongo_uri: str, tmp_path: Path
) -> None:
    async def run(*args: str) -> Done:
        return await bot_cli(mongo_uri, storage, tmp_path, *args)

    unknown = await run("org", "add", "--name", "X", "--area", "atlantis")
    assert unknown.returncode != 0 and "unknown or ambiguous area 'atlantis'" in unknown.stderr
    no_org = await run(
        "checkpoint", "add", "--org", "000000000000", "--kind", "gate", "--name", "G"
    )
    assert no_org.returncode != 0 and "no live organisation" in no_org.stderr
    org_id = last_line(
        await run("org", "add", "--name", "Chợ", "--area", "suoi-ngo", "--kind", "market")
    )
    for _ in range(2):
        await run("checkpoint", "add", "--org", org_id, "--kind", "stall_row", "--name", "Dãy A")
    many = await run("checkpoint", "poster", "--org", org_id, "--out", str(tmp_path / "x.png"))
    assert many.returncode != 0 and "FILE.png for one poster" in many.stderr
    assert [e.action for e in await storage.audit.latest(10)].count("checkpoint.add") == 2


async def test_with_a_public_url_the_poster_qr_opens_the_landing_page(
    storage: Storage, mongo_uri: str, tmp_path: Path
) -> None:
    async def run(*args: str) -> Done:
        return await bot_cli(
            mongo_uri, storage, tmp_path, *args, public_url="https://kb.example.vn"
        )

    org_id = last_line(await run("org", "add", "--name", "Trạm y tế", "--area", "suoi ngo"))
    added = await run("checkpoint", "add", "--org", org_id, "--kind", "gate", "--name", "Cổng")
    checkpoint = await storage.checkpoints.get(last_line(added))
    assert checkpoint is not None
    page = landing_url("https://kb.example.vn", checkpoint_token(KEYS, checkpoint))
    assert f"QR page: {page}" in added.stdout
    png = tmp_path / "gate.png"
    assert (await run("checkpoint", "poster", checkpoint.id, "--out", str(png))).returncode == 0
    assert decoded(Image.open(png)) == [page]


async def test_the_landing_page_opens_telegram_or_gives_the_zalo_code(
    service: Service, storage: Storage
) -> None:
    org = await storage.orgs.add(an_org())
    checkpoint = await storage.checkpoints.add(a_checkpoint(org))
    token = checkpoint_token(KEYS, checkpoint)
    base = service.settings.base_url
    async with httpx.AsyncClient() as http:
        page = await http.get(f"{base}/q/{token}")
        assert page.status_code == 200 and "Xe 51B-123.45 — Công ty TNHH May mặc" in page.text
        assert f"?start=cp_{token}" in page.text and "Mở bằng Telegram" in page.text
        assert f"gửi mã {checkpoint.code} cho bot" in page.text
        forged = await http.get(f"{base}/q/{token[:-2]}{'AA' if token[-2:] != 'AA' else 'BB'}")
        assert forged.status_code == 410 and "không còn dùng được" in forged.text
        await storage.checkpoints.revoke(checkpoint.id)
        revoked = await http.get(f"{base}/q/{token}")
        assert revoked.status_code == 410  # the printed poster of the old version


async def test_the_cli_prints_posters_valid_for_one_shift_each_day(
    storage: Storage, mongo_uri: str, tmp_path: Path
) -> None:
    async def run(*args: str) -> Done:
        return await bot_cli(mongo_uri, storage, tmp_path, *args)

    org_id = last_line(await run("org", "add", "--name", "Công ty May", "--area", "tan-ha"))
    gate = last_line(
        await run("checkpoint", "add", "--org", org_id, "--kind", "gate", "--name", "Cổng")
    )
    week = tmp_path / "week.pdf"
    night = ("--shift", "22:00-06:00", "--from", "27/11/2026")
    printed = await run("checkpoint", "poster", gate, *night, "--days", "3", "--out", str(week))
    assert "wrote 3 poster(s)" in printed.stdout and b"/Count 3" in week.read_bytes()
    png = tmp_path / "night.png"
    assert (await run("checkpoint", "poster", gate, *night, "--out", str(png))).returncode == 0
    [url] = decoded(Image.open(png))
    local = ZoneInfo("Asia/Ho_Chi_Minh")
    during = datetime(2026, 11, 27, 23, 0, tzinfo=local)
    claim = read_checkpoint_token(KEYS, url.split("start=cp_")[1], during)
    assert claim.not_before == datetime(2026, 11, 27, 22, 0, tzinfo=local)
    assert claim.expires_at == datetime(2026, 11, 28, 6, 0, tzinfo=local)
    bad = await run("checkpoint", "poster", gate, "--shift", "25:00", "--out", str(png))
    assert bad.returncode != 0 and "--shift HH:MM-HH:MM" in bad.stderr
