// Khai Báo sandbox chat page: plays simulated users through the control API (/control/...).
"use strict";

const POLL_WAIT_S = 25;
const USERS_REFRESH_MS = 3000;

const state = {
  platform: "telegram",
  users: [],
  usersJson: "",
  selected: null, // SimUser.id
  cursor: 0,
  entries: new Map(), // message_id -> {entry, node}
  poller: null, // AbortController of the running long-poll loop
  timezone: "Asia/Ho_Chi_Minh", // the bot's, from /control/info
  telegramBot: "", // the emulated bot's username: its t.me deep links open in this page
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// The page's own icons as inline SVG strokes, so they render without an emoji font.
const ICONS = {
  camera: "M4 8h3l2-3h6l2 3h3v11H4z M12 16.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z",
  pin: "M12 21s-7-6.5-7-12a7 7 0 0 1 14 0c0 5.5-7 12-7 12z M12 12a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
  smile: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z M8.5 14a4.5 4.5 0 0 0 7 0 M9 9.5h.01 M15 9.5h.01",
  film: "M4 5h16v14H4z M8 5v14 M16 5v14 M4 9.5h4 M4 14.5h4 M16 9.5h4 M16 14.5h4",
  send: "M4 12 20 4l-6 16-2.5-6.5z M11.5 13.5 20 4",
  phone: "M7 3h10v18H7z M11 18h2",
  file: "M6 3h8l4 4v14H6z M14 3v4h4",
  warning: "M12 3 22 21H2z M12 10v5 M12 18h.01",
  blocked: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z M5.6 5.6l12.8 12.8",
  external: "M14 4h6v6 M20 4l-9 9 M18 14v6H4V6h6",
  play: "M7 4l13 8-13 8z",
  telegram: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z M7 12l10-4-2 9-3.5-3L10 16v-3.5L15 9",
  zalo: "M4 5h16v11h-9l-4 3v-3H4z M9 8.5h6l-6 5h6",
};

function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "ico");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("data-icon", name);
  const path = document.createElementNS(svg.namespaceURI, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

async function api(method, path, body, signal) {
  const response = await fetch(path, {
    method,
    signal,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

// ---- users ----------------------------------------------------------------------------------

function currentUser() {
  return state.users.find((user) => user.id === state.selected) || null;
}

function chatId(user = currentUser()) {
  if (!user) return null;
  return state.platform === "telegram" ? user.telegram_id : user.zalo_id;
}

async function loadUsers() {
  const { users } = await api("GET", "/control/users");
  const json = JSON.stringify(users);
  if (json === state.usersJson) return;
  state.users = users;
  state.usersJson = json;
  renderUsers();
  if (!currentUser() && users.length) selectUser(users[0].id);
}

function renderUsers() {
  const items = state.users.map((user) =>
    el(
      "li",
      {
        "data-testid": "user-item",
        "data-user-id": user.id,
        "aria-selected": user.id === state.selected ? "true" : "false",
        className: user.id === state.selected ? "selected" : "",
        onclick: () => selectUser(user.id),
      },
      el("span", { className: "user-name" }, user.name),
      el("small", { className: "user-id", "data-testid": "user-id" }, `id ${chatId(user)}`),
    ),
  );
  $("user-list").replaceChildren(...items);
  $("no-users").hidden = state.users.length > 0;
}

function selectUser(id) {
  state.selected = id;
  renderUsers();
  resetChat();
}

async function addUser(event) {
  event.preventDefault();
  const name = $("new-user-name").value.trim();
  const id = $("new-user-id").value.trim();
  const body = {};
  if (name) body.name = name;
  if (id) body[`${state.platform}_id`] = id;
  try {
    const user = await api("POST", "/control/users", body);
    $("new-user-name").value = "";
    $("new-user-id").value = "";
    await loadUsers();
    selectUser(user.id);
  } catch (error) {
    setStatus(`Không thêm được người dùng: ${error.message}`, true);
  }
}

async function seedDemo() {
  const button = $("demo");
  button.disabled = true;
  setStatus("Đang tạo dữ liệu mẫu… (Seeding the demo…)");
  try {
    const { users } = await api("POST", "/control/demo");
    await loadUsers();
    if (state.platform !== "telegram") setPlatform("telegram"); // the demo is seeded there
    selectUser(users[1].id); // the commune's officer: /cases, /enroll, /review start there
    setStatus(
      "Dữ liệu mẫu: cán bộ huyện, cán bộ y tế xã Tân Hội, hai người dân; " +
        "Bà Nguyễn Thị Lan đang cách ly (ca đã tạo). Gõ /cases.",
    );
  } catch (error) {
    setStatus(`Không tạo được dữ liệu mẫu: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

// ---- platform -------------------------------------------------------------------------------

function setPlatform(platform) {
  state.platform = platform;
  document.body.dataset.platform = platform;
  for (const button of document.querySelectorAll(".platforms button")) {
    button.setAttribute("aria-pressed", String(button.dataset.platform === platform));
  }
  $("platform-badge").textContent = platform === "telegram" ? "Telegram" : "Zalo";
  $("send-unsupported").title =
    platform === "telegram" ? "Gửi video · Send a video" : "Nội dung không hỗ trợ · Unsupported";
  renderUsers();
  resetChat();
}

// ---- transcript -----------------------------------------------------------------------------

function resetChat() {
  if (state.poller) state.poller.abort();
  state.poller = null;
  state.cursor = 0;
  state.entries.clear();
  $("messages").replaceChildren(...(currentUser() ? [emptyHint()] : []));
  $("reply-keyboard").replaceChildren();
  setStatus("");
  const user = currentUser();
  const title = $("chat-title");
  if (!user) {
    title.replaceChildren("Chọn một người dùng ", el("small", {}, "Pick a user"));
    return;
  }
  title.replaceChildren(`${user.name} `, el("small", {}, `id ${chatId(user)}`));
  state.poller = new AbortController();
  pollLoop(state.poller.signal, chatId(user));
}

async function pollLoop(signal, chat) {
  const base = `/control/${state.platform}/chats/${encodeURIComponent(chat)}/messages`;
  while (!signal.aborted) {
    try {
      const query = `?after=${state.cursor}&wait=${POLL_WAIT_S}&include_user=true`;
      const data = await api("GET", base + query, undefined, signal);
      if (signal.aborted) return;
      for (const entry of data.messages) upsert(entry);
      state.cursor = Math.max(state.cursor, data.last);
      renderReplyKeyboard();
    } catch (error) {
      if (signal.aborted) return;
      setStatus(`Mất kết nối tới sandbox: ${error.message}`, true);
      await sleep(1000);
    }
  }
}

function emptyHint() {
  return el(
    "p",
    { id: "empty-hint", className: "empty-hint", "data-testid": "empty-hint" },
    "Gõ /start để bắt đầu",
    el("small", {}, "Type /start to begin"),
  );
}

function upsert(entry) {
  const node = renderEntry(entry);
  const known = state.entries.get(entry.message_id);
  $("empty-hint")?.remove();
  if (known) known.node.replaceWith(node);
  else $("messages").append(node);
  state.entries.set(entry.message_id, { entry, node });
  scrollToEnd();
}

function scrollToEnd() {
  const messages = $("messages");
  messages.scrollTop = messages.scrollHeight;
}

function textBlock(parts, testid) {
  if (!parts.length) return null;
  return el("div", { className: "text", "data-testid": testid }, ...parts);
}

const URL_PATTERN = /https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]]/g;

/** Text with its http(s) addresses as links. */
function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    parts.push(text.slice(last, match.index), link(match[0]));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts.filter((part) => part !== "");
}

function link(url) {
  if (startPayload(url) === null) {
    const attrs = { href: url, target: "_blank", rel: "noopener", "data-testid": "message-link" };
    return el("a", attrs, url);
  }
  const open = (event) => {
    event.preventDefault();
    followLink(url);
  };
  return el("a", { href: url, "data-testid": "message-link", onclick: open }, url);
}

/** The payload of this bot's Telegram deep link (https://t.me/<bot>?start=...), else null. */
function startPayload(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const ours = parsed.pathname.slice(1).toLowerCase() === state.telegramBot.toLowerCase();
  const telegram = ["t.me", "telegram.me"].includes(parsed.hostname);
  return telegram && ours ? parsed.searchParams.get("start") : null;
}

/** Our bot's deep link opens in the simulated Telegram app; other links in a new tab. */
function followLink(url) {
  const payload = startPayload(url);
  if (payload === null) window.open(url, "_blank", "noopener");
  else openInApp(payload);
}

function openInApp(payload) {
  if (state.platform !== "telegram") setPlatform("telegram");
  send({ text: `/start ${payload}` });
}

function media(entry) {
  if (entry.error) {
    const attrs = { className: "error", "data-testid": "message-error" };
    return el("div", attrs, icon("warning"), ` ${entry.error}`);
  }
  if (!entry.file_url) return null;
  if (entry.kind === "photo" || entry.kind === "sticker") {
    const testid = entry.kind === "photo" ? "message-photo" : "message-sticker";
    // Its height is known only once loaded: scroll again then, or the photo hides below.
    const attrs = { src: entry.file_url, alt: entry.kind, "data-testid": testid };
    return el("img", { ...attrs, onload: scrollToEnd });
  }
  if (entry.kind === "document") {
    return el(
      "a",
      { href: entry.file_url, download: entry.filename || "file", "data-testid": "message-document" },
      icon("file"),
      ` ${entry.filename || "tệp"}`,
    );
  }
  return null;
}

const KIND_LABELS = {
  contact: (text) => [icon("phone"), ` ${text}`],
  location: (text) => [icon("pin"), ` ${text}`],
  video: () => [icon("film"), " video"],
  unsupported: () => [icon("blocked"), " nội dung không hỗ trợ (unsupported)"],
};

function renderEntry(entry) {
  const label = KIND_LABELS[entry.kind];
  const text = label ? label(entry.text) : linkify(entry.text);
  const time = new Date(entry.date * 1000).toLocaleTimeString("vi-VN", {
    hour: "2-digit",
    minute: "2-digit",
    timeZone: state.timezone,
  });
  return el(
    "div",
    {
      className: `message ${entry.from}`,
      "data-testid": entry.from === "bot" ? "bot-message" : "user-message",
      "data-message-id": entry.message_id,
      "data-kind": entry.kind,
      "data-edited": entry.edited ? "true" : "false",
    },
    media(entry),
    textBlock(text, "message-text"),
    textBlock(linkify(entry.caption), "message-caption"),
    inlineKeyboard(entry),
    el(
      "small",
      { className: "meta", "data-testid": "message-time" },
      entry.edited ? `đã sửa · ${time}` : time,
    ),
  );
}

function inlineKeyboard(entry) {
  if (!entry.buttons.length) return null;
  const rows = entry.buttons.map((row) =>
    el(
      "div",
      { className: "button-row" },
      ...row.map((button) =>
        el(
          "button",
          {
            type: "button",
            className: "inline-button",
            "data-testid": "inline-button",
            "data-callback-data": button.data,
            onclick: () => pressButton(entry, button),
          },
          button.label,
          button.url ? icon("external") : null,
        ),
      ),
    ),
  );
  return el("div", { className: "inline-keyboard" }, ...rows);
}

function currentReplyKeyboard() {
  let keyboard = null;
  let oneTime = false;
  for (const { entry } of state.entries.values()) {
    if (entry.from !== "bot") {
      if (oneTime) keyboard = null; // Telegram hides a one-time keyboard once the user answers
      continue;
    }
    if (entry.keyboard.length) {
      keyboard = entry.keyboard;
      oneTime = entry.one_time_keyboard;
    } else if (entry.remove_keyboard) keyboard = null;
  }
  return keyboard;
}

/** The label with an icon in front, unless the bot already put that emoji there. */
function withIcon(name, emoji, label) {
  return label.startsWith(emoji) ? [label] : [icon(name), ` ${label}`];
}

function replyButton(button) {
  if (button.request === "contact") {
    return el(
      "button",
      { type: "button", "data-testid": "share-contact", onclick: shareContact },
      ...withIcon("phone", "📱", button.label),
    );
  }
  if (button.request === "location") {
    return el(
      "button",
      { type: "button", "data-testid": "share-location", onclick: shareLocation },
      ...withIcon("pin", "📍", button.label),
    );
  }
  return el(
    "button",
    { type: "button", "data-testid": "reply-button", onclick: () => send({ text: button.label }) },
    button.label,
  );
}

function renderReplyKeyboard() {
  const keyboard = state.platform === "telegram" ? currentReplyKeyboard() : null;
  const rows = (keyboard || []).map((row) =>
    el("div", { className: "button-row" }, ...row.map(replyButton)),
  );
  $("reply-keyboard").replaceChildren(...rows);
}

// ---- sending --------------------------------------------------------------------------------

async function send(fields) {
  const user = currentUser();
  if (!user) {
    setStatus("Hãy chọn hoặc thêm một người dùng trước. (Pick a user first.)", true);
    return;
  }
  const body = { user_id: chatId(user), display_name: user.name, ...fields };
  if (state.platform === "telegram") body.language_code = "vi";
  try {
    const result = await api("POST", `/control/${state.platform}/send`, body);
    reportDelivery(result);
  } catch (error) {
    setStatus(`Gửi thất bại: ${error.message}`, true);
  }
}

function reportDelivery(result) {
  if (result.delivery === "webhook") {
    const ok = result.webhook_status < 300;
    setStatus(`Đã gửi tới webhook của bot (HTTP ${result.webhook_status})`, !ok);
  } else if (result.delivery === "webhook_failed") {
    setStatus(`Webhook lỗi: ${result.error}`, true);
  } else if (result.delivery === "filtered") {
    setStatus("Bot không đăng ký loại cập nhật này (allowed_updates).", true);
  } else {
    setStatus("Đã xếp hàng chờ bot lấy (getUpdates).");
  }
}

function pressButton(entry, button) {
  if (button.url) {
    followLink(button.url);
    return;
  }
  if (button.data) send({ callback_data: button.data, message_id: entry.message_id });
}

function sendText(event) {
  event.preventDefault();
  const input = $("message-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  send({ text });
}

function shareContact() {
  const phone = window.prompt("Số điện thoại của bạn (Phone number):", "+84");
  if (phone && phone.trim()) send({ contact: { phone_number: phone.trim() } });
}

function shareLocation() {
  const answer = window.prompt("Vị trí “vĩ độ, kinh độ” (latitude, longitude):", "21.0285, 105.8542");
  if (!answer) return;
  const [latitude, longitude] = answer.split(",").map((part) => Number(part.trim()));
  if (Number.isFinite(latitude) && Number.isFinite(longitude)) {
    send({ location: { latitude, longitude } });
  } else {
    setStatus("Vị trí không hợp lệ. (Invalid location.)", true);
  }
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function sendPhoto() {
  const input = $("photo-input");
  const file = input.files && input.files[0];
  input.value = "";
  if (!file) return;
  const caption = $("message-input").value.trim();
  $("message-input").value = "";
  const fields = { photo: await readBase64(file) };
  if (caption) fields.caption = caption;
  send(fields);
}

function deepLinkPayload(value) {
  const trimmed = value.trim();
  const match = trimmed.match(/[?&]start=([^&#]*)/);
  if (match) return decodeURIComponent(match[1]);
  return trimmed.replace(/^\/start\s*/, "");
}

function openDeepLink(event) {
  event.preventDefault();
  const payload = deepLinkPayload($("deeplink-input").value);
  if (!payload) return;
  $("deeplink-input").value = "";
  openInApp(payload);
}

// ---- sandbox clock (the bot follows it) -----------------------------------------------------

const CLOCK_REFRESH_MS = 15000;

function showClock(view) {
  // `local` is ISO 8601 in the bot's zone: its digits are already the local date and time.
  const local = view.local;
  $("clock-now").textContent = `${local.slice(8, 10)}/${local.slice(5, 7)} ${local.slice(11, 16)}`;
  $("clock").classList.toggle("shifted", view.offset_seconds !== 0);
}

async function moveClock(body) {
  try {
    showClock(await api("POST", "/control/clock", body));
  } catch (error) {
    setStatus(error.message, true);
  }
}

function initClock() {
  const refresh = () => api("GET", "/control/clock").then(showClock).catch(() => {});
  $("clock-jump").addEventListener("click", () => moveClock({ to: $("clock-to").value }));
  $("clock-reset").addEventListener("click", () => moveClock({ reset: true }));
  for (const button of document.querySelectorAll("#clock [data-advance]")) {
    button.addEventListener("click", () =>
      moveClock({ advance_seconds: Number(button.dataset.advance) }),
    );
  }
  refresh();
  setInterval(refresh, CLOCK_REFRESH_MS);
}

// ---- wiring ---------------------------------------------------------------------------------

async function loadInfo() {
  const info = await api("GET", "/control/info");
  state.timezone = info.timezone;
  state.telegramBot = info.telegram_bot;
}

function init() {
  for (const slot of document.querySelectorAll("span[data-icon]")) {
    slot.replaceWith(icon(slot.dataset.icon));
  }
  for (const button of document.querySelectorAll(".platforms button")) {
    button.addEventListener("click", () => setPlatform(button.dataset.platform));
  }
  $("new-user-form").addEventListener("submit", addUser);
  $("demo").addEventListener("click", seedDemo);
  initClock();
  $("composer").addEventListener("submit", sendText);
  $("deeplink-form").addEventListener("submit", openDeepLink);
  $("photo-input").addEventListener("change", sendPhoto);
  $("send-location").addEventListener("click", shareLocation);
  $("send-sticker").addEventListener("click", () => send({ sticker: true }));
  $("send-unsupported").addEventListener("click", () =>
    send(state.platform === "telegram" ? { video: true } : { unsupported: true }),
  );
  setPlatform("telegram");
  // Deep links in the first messages need the bot's username: users (and their chats) after it.
  loadInfo()
    .then(loadUsers)
    .catch((error) => setStatus(error.message, true));
  setInterval(() => loadUsers().catch(() => {}), USERS_REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", init);
