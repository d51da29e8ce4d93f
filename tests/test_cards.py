"""Personal QR cards through the emulators: printing one, a gate account recording the
holder in and out by code or photo, and a card refused anywhere else."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import httpx
import zxingcpp
from PIL import Image

from bot.app import Service
from core.clock import FixedClock
from core.models import Checkpoint, CheckpointKind, Organisation
from core.phone import normalize_phone
from core.tokens import new_code, new_id
from storage.database import Storage
from tests.chat import User
from tests.conftest import at
from tests.test_onboarding import register

PHONE = "0977 777 777"


async def fetched(message: dict[str, Any]) -> bytes:
    """The file a photo message links to."""
    async with httpx.AsyncClient() as http:
        return (await http.get(str(message["file_url"]))).content


async def a_gate(storage: Storage) -> Checkpoint:
    """The main gate of a Tân Hà factory."""
    org = Organisation(
        id=new_id(), name="Công ty May", area="tan-ha", created_by="t", created_at=at(6)
    )
    await storage.orgs.add(org)
    gate = Checkpoint(
        id=new_id(),
        org_id=org.id,
        kind=CheckpointKind.GATE,
        name="Cổng chính",
        area="tan-ha",
        code=new_code(),
        created_by="t",
        created_at=at(6),
    )
    return await storage.checkpoints.add(gate)


async def print_card(officer: User) -> tuple[str, bytes]:
    """Print Ông Tư's card: its code and its picture."""
    photo, pdf = await officer.says(f"/the {PHONE} Nguyễn Văn Tư", 2)
    assert "Thẻ quét mã của Nguyễn Văn Tư" in photo["caption"]
    assert "the-KB" in (pdf.get("filename") or pdf["text"])  # the sheet to print
    code = photo["caption"].rsplit(" ", 1)[1].rstrip(".")
    return code, await fetched(photo)


async def be_the_gate(officer: User) -> None:
    """Choose «record cards here» on the factory's gate."""
    await officer.says("/diemquet")
    await officer.choose("🏭 Công ty May")
    await officer.choose("📍 Cổng chính")
    [done] = await officer.choose("📟 Ghi nhận thẻ cá nhân tại điểm này")
    assert "đang ghi nhận thẻ cá nhân tại Cổng chính" in done["text"]


async def test_a_gate_account_records_a_card_holder_in_by_code_and_out_by_photo(
    officer: User, service: Service, storage: Storage, clock: FixedClock
) -> None:
    clock.set(at(7, 0))
    gate = await a_gate(storage)
    code, picture = await print_card(officer)
    [holder] = await storage.people.with_phone(str(normalize_phone(PHONE)))
    assert holder.name == "Nguyễn Văn Tư" and holder.area == "tan-ha"
    [qr] = [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(picture)))]
    assert qr.startswith("KHAIBAO-PC:")

    await be_the_gate(officer)
    whose, receipt = await officer.says(code.lower(), 2)
    assert "Thẻ của Nguyễn Văn Tư" in whose["text"] and "Đã ghi nhận VÀO" in receipt["text"]
    clock.advance(timedelta(hours=8))
    whose, out = await officer.photo(picture, 2)
    assert "Thẻ của Nguyễn Văn Tư" in whose["text"] and "8 giờ 0 phút" in out["text"]
    [visit] = [v async for v in storage.db["visits"].find()]
    assert visit["person_id"] == holder.id and visit["checkpoint_id"] == gate.id
    assert visit["closed"] == "scan"


async def test_a_card_sent_by_a_resident_records_nothing(
    officer: User, user: User, service: Service, storage: Storage
) -> None:
    await a_gate(storage)
    code, picture = await print_card(officer)
    await register(user)
    [refused] = await user.says(code)
    assert "chỉ người trực tại điểm quét" in refused["text"]
    [refused] = await user.photo(picture)
    assert "chỉ người trực tại điểm quét" in refused["text"]
    assert await storage.db["visits"].count_documents({}) == 0


async def test_a_card_is_not_printed_for_someone_outside_the_officers_areas(
    officer: User, storage: Storage
) -> None:
    await officer.says(f"/the {PHONE} Nguyễn Văn Tư", 2)
    [holder] = await storage.people.with_phone(str(normalize_phone(PHONE)))
    await storage.people.enrolled(holder.model_copy(update={"area": "suoi-day"}))
    [refused] = await officer.says(f"/the {PHONE} Tên Khác Hẳn")
    assert "Không tìm thấy người có số điện thoại này" in refused["text"]
    [still] = await storage.people.with_phone(str(normalize_phone(PHONE)))
    assert still.name == "Nguyễn Văn Tư"
    [usage] = await officer.says("/the")
    assert "Cách dùng" in usage["text"]
