"""Alert subscriptions on Telegram and Zalo: the home commune on registration, more communes
and muting from the menu, one tap for people who do not register, gone with the person."""

from __future__ import annotations

from bot.app import Service
from core.channel import Platform
from core.clock import FixedClock
from core.models import Account, Person, Subscriber
from sandbox.client import SandboxClient
from storage.database import Storage
from storage.subscribers import subscribe_registered
from tests.chat import User, options_of
from tests.test_groups import GROUP, says_in_group
from tests.test_onboarding import register, start

MENU_ITEM = "🔔 Nhận thông báo"
ALERTS_ONLY = "🔔 Chỉ nhận thông báo, không đăng ký"
MUTE, UNMUTE = "🔕 Tắt thông báo thường", "🔔 Bật lại thông báo thường"


async def subscription(storage: Storage, user: User) -> Subscriber | None:
    """What the bot stored for this user's chat."""
    return await storage.subscribers.get(user.platform, user.user_id)


async def test_registering_subscribes_the_home_commune(user: User, storage: Storage) -> None:
    await register(user)
    account = await storage.accounts.get(user.platform, user.user_id)
    assert account is not None
    subscriber = await subscription(storage, user)
    assert subscriber is not None
    assert (subscriber.areas, subscriber.person_id) == (["suoi-day"], account.person_id)
    assert (subscriber.chat_id, subscriber.language, subscriber.muted) == (
        user.user_id,
        "vi",
        False,
    )
    [already] = await user.says("/start")  # nothing more happens on a second visit
    assert "đã đăng ký" in already["text"]
    assert await storage.db["subscribers"].count_documents({}) == 1
    assert await subscription(storage, user) == subscriber


async def test_the_menu_adds_a_commune_by_button_or_by_name_and_drops_one(
    user: User, storage: Storage
) -> None:
    await register(user)
    [overview] = await user.choose(MENU_ITEM)
    assert "Xã Suối Dây" in overview["text"] and "nơi cha mẹ đang sống" in overview["text"]
    assert "Thông báo khẩn cấp luôn được gửi đến" in overview["text"]
    assert options_of(overview, user.platform) == [
        "➕ Thêm xã",
        "➖ Bỏ xã Suối Dây",
        MUTE,
        "↩️ Về menu chính",
    ]
    [communes] = await user.choose("➕ Thêm xã")
    offered = options_of(communes, user.platform)
    assert "Xã Tân Hội" in offered and "Xã Suối Dây" not in offered  # already followed
    [added] = await user.choose("Xã Tân Hội")
    assert "Đã thêm xã Tân Hội" in added["text"] and "• Xã Tân Hội" in added["text"]
    await user.choose("➕ Thêm xã")
    [unknown] = await user.says("Tân Bình")
    assert "Không tìm thấy xã, thị trấn «Tân Bình»" in unknown["text"]
    assert "Xã Tân Hà" in options_of(unknown, user.platform)
    [typed] = await user.says("xa tan ha")
    assert "Đã thêm xã Tân Hà" in typed["text"]
    subscriber = await subscription(storage, user)
    assert subscriber is not None and subscriber.areas == ["suoi-day", "tan-hoi", "tan-ha"]

    [dropped] = await user.choose("➖ Bỏ xã Tân Hội")
    assert "Đã bỏ xã Tân Hội" in dropped["text"] and "• Xã Tân Hội" not in dropped["text"]
    assert "➖ Bỏ xã Tân Hội" not in options_of(dropped, user.platform)
    subscriber = await subscription(storage, user)
    assert subscriber is not None and subscriber.areas == ["suoi-day", "tan-ha"]
    [menu] = await user.choose("↩️ Về menu chính")
    assert MENU_ITEM in options_of(menu, user.platform)


async def test_muting_keeps_emergency_alerts_and_can_be_undone(
    user: User, storage: Storage
) -> None:
    await register(user)
    await user.says("/thongbao")
    [muted] = await user.choose(MUTE)
    assert "Đã tắt thông báo thường" in muted["text"]
    assert "chỉ nhận thông báo khẩn cấp" in muted["text"]
    assert UNMUTE in options_of(muted, user.platform) and MUTE not in options_of(
        muted, user.platform
    )
    subscriber = await subscription(storage, user)
    assert subscriber is not None and subscriber.muted and subscriber.areas == ["suoi-day"]
    [unmuted] = await user.choose(UNMUTE)
    assert "Đã bật lại thông báo thường" in unmuted["text"]
    assert "Đang nhận mọi thông báo" in unmuted["text"]
    subscriber = await subscription(storage, user)
    assert subscriber is not None and not subscriber.muted


async def test_cancel_leaves_the_subscriptions_as_they_were(user: User, storage: Storage) -> None:
    await register(user)
    await user.says("/subscribe")
    await user.choose("➕ Thêm xã")
    cancelled, menu = await user.says("/huy", 2)
    assert "Đã hủy" in cancelled["text"] and MENU_ITEM in options_of(menu, user.platform)
    subscriber = await subscription(storage, user)
    assert subscriber is not None and subscriber.areas == ["suoi-day"]


async def test_someone_unregistered_subscribes_in_one_tap_and_stops(
    user: User, storage: Storage
) -> None:
    await start(user)
    [privacy] = await user.choose("🇻🇳 Tiếng Việt")
    assert ALERTS_ONLY in options_of(privacy, user.platform)
    [communes] = await user.choose(ALERTS_ONLY)
    assert "Không cần đăng ký" in communes["text"]
    [receipt] = await user.choose("Xã Tân Hà")
    assert "Đã đăng ký nhận thông báo phòng chống dịch của xã Tân Hà" in receipt["text"]
    assert "/ngungnhan" in receipt["text"]
    subscriber = await subscription(storage, user)
    assert subscriber is not None
    assert (subscriber.areas, subscriber.person_id, subscriber.muted) == (["tan-ha"], "", False)
    for collection in ("people", "channel_accounts"):
        assert await storage.db[collection].count_documents({}) == 0

    [overview] = await user.says("/thongbao")
    assert "• Xã Tân Hà" in overview["text"] and "✅ Xong" in options_of(overview, user.platform)
    [stopped] = await user.says("/ngungnhan")
    assert "Đã ngừng gửi thông báo" in stopped["text"]
    assert await subscription(storage, user) is None
    [nothing] = await user.says("/stop")
    assert "không nhận thông báo nào" in nothing["text"]


async def test_someone_unregistered_gets_alerts_in_the_language_they_chose(
    user: User, storage: Storage
) -> None:
    await start(user)
    await user.choose("🇬🇧 English")
    [communes] = await user.choose("🔔 Alerts only, no registration")
    assert "No registration" in communes["text"]
    [receipt] = await user.choose("Xã Tân Hội")
    assert "/stop" in receipt["text"]
    subscriber = await subscription(storage, user)
    assert subscriber is not None and (subscriber.areas, subscriber.language) == (["tan-hoi"], "en")


async def test_a_printed_link_subscribes_in_a_single_tap(user: User, storage: Storage) -> None:
    [receipt] = await user.says("/start tb_tan-hoi")
    assert "xã Tân Hội" in receipt["text"] and "/ngungnhan" in receipt["text"]
    subscriber = await subscription(storage, user)
    assert subscriber is not None and (subscriber.areas, subscriber.person_id) == (["tan-hoi"], "")


async def test_a_link_to_an_unknown_commune_is_refused_and_stores_nothing(
    user: User, storage: Storage
) -> None:
    [refused] = await user.says("/start tb_ha-noi")
    assert "không ứng với xã, thị trấn nào" in refused["text"]
    assert await storage.db["subscribers"].count_documents({}) == 0


async def test_a_registered_resident_adds_a_commune_by_link(user: User, storage: Storage) -> None:
    await register(user)
    [added] = await user.says("/start tb_tan-ha")
    assert "Đã thêm xã Tân Hà" in added["text"] and MENU_ITEM in options_of(added, user.platform)
    subscriber = await subscription(storage, user)
    assert subscriber is not None and subscriber.areas == ["suoi-day", "tan-ha"]
    assert subscriber.person_id != ""
    [managed] = await user.says("/ngungnhan")  # registered people manage it from the menu
    assert "bỏ bớt xã" in managed["text"] and "• Xã Tân Hà" in managed["text"]
    assert await subscription(storage, user) == subscriber


async def test_switching_language_switches_the_alerts_language(
    user: User, storage: Storage
) -> None:
    await register(user)
    await user.says("/ngonngu")
    changed, menu = await user.choose("🇬🇧 English", 2)
    assert changed["text"] == "Language set to English."
    assert "🔔 Alerts" in options_of(menu, user.platform)
    subscriber = await subscription(storage, user)
    assert subscriber is not None and subscriber.language == "en"


async def test_deleting_the_account_removes_its_subscription(user: User, storage: Storage) -> None:
    await register(user)
    await user.says("/start tb_tan-ha")
    await user.says("/xoa")
    [done] = await user.choose("🗑 Xóa thông tin")
    assert "Đã xóa toàn bộ thông tin" in done["text"]
    assert await subscription(storage, user) is None
    assert await storage.db["subscribers"].count_documents({}) == 0
    [record] = [r async for r in storage.db["erasures"].find({}, {"_id": 0})]
    assert record["erased"]["subscriptions"] == 1


async def test_erasing_a_person_removes_the_subscriptions_of_all_their_chats(
    storage: Storage, clock: FixedClock
) -> None:
    chats = [(Platform.TELEGRAM, "100001"), (Platform.ZALO, "a1b2c3d4e5f600112233")]
    for platform, user_id in [*chats, (Platform.TELEGRAM, "100009")]:
        person = "p-other" if user_id == "100009" else "p-erased"
        await storage.subscribers.subscribe(
            Subscriber(
                platform=platform,
                user_id=user_id,
                chat_id=user_id,
                areas=["tan-ha"],
                person_id=person,
                created_at=clock.now(),
            )
        )
    erased = await storage.erasure.erase("p-erased", [], clock.now())
    assert erased["subscriptions"] == 2
    for platform, user_id in chats:
        assert await storage.subscribers.get(platform, user_id) is None
    assert await storage.subscribers.get(Platform.TELEGRAM, "100009") is not None


async def test_a_group_chat_does_not_subscribe(
    user: User,
    storage: Storage,
    service: Service,
    tg: SandboxClient,
    zl: SandboxClient,
    platform: str,
) -> None:
    for text in ("/start tb_tan-ha", "/thongbao", "/subscribe", "/ngungnhan"):
        await says_in_group(user, text)
    [private] = await user.says("/ngungnhan")  # answered after the group messages
    assert "không nhận thông báo nào" in private["text"]
    assert service.inbox is not None
    await service.inbox.idle()
    control = tg if platform == "telegram" else zl
    assert await control.messages(GROUP[platform]) == []
    assert await storage.db["subscribers"].count_documents({}) == 0


async def test_residents_registered_before_subscriptions_get_their_commune_once(
    storage: Storage, clock: FixedClock
) -> None:
    person = Person(
        id="p1", name="Trần Thị Mai", phone="0912345678", area="tan-hoi", created_at=clock.now()
    )
    await storage.people.add(person)
    account = Account(
        platform=Platform.ZALO, user_id="z1", chat_id="z1", person_id="p1", created_at=clock.now()
    )
    await storage.accounts.save(account)

    assert await subscribe_registered(storage.db, clock.now()) == 1
    subscriber = await storage.subscribers.get(Platform.ZALO, "z1")
    assert subscriber is not None and subscriber.areas == ["tan-hoi"]
    assert subscriber.person_id == "p1"

    await storage.subscribers.unsubscribe(Platform.ZALO, "z1", "tan-hoi")
    assert await subscribe_registered(storage.db, clock.now()) == 0  # once: a choice stays
    again = await storage.subscribers.get(Platform.ZALO, "z1")
    assert again is not None and again.areas == []
