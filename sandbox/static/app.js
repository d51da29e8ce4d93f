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
      el("small", { className: "user-id" }, chatId(user)),
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
  $("messages").replaceChildren();
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

function upsert(entry) {
  const node = renderEntry(entry);
  const known = state.entries.get(entry.message_id);
  if (known) known.node.replaceWith(node);
  else $("messages").append(node);
  state.entries.set(entry.message_id, { entry, node });
  node.scrollIntoView({ block: "end" });
}

function textBlock(text, testid) {
  return text ? el("div", { className: "text", "data-testid": testid }, text) : null;
}

function media(entry) {
  if (entry.error) {
    return el("div", { className: "error", "data-testid": "message-error" }, `⚠️ ${entry.error}`);
  }
  if (!entry.file_url) return null;
  if (entry.kind === "photo" || entry.kind === "sticker") {
    const testid = entry.kind === "photo" ? "message-photo" : "message-sticker";
    return el("img", { src: entry.file_url, alt: entry.kind, "data-testid": testid });
  }
  if (entry.kind === "document") {
    return el(
      "a",
      { href: entry.file_url, download: entry.filename || "file", "data-testid": "message-document" },
      `📄 ${entry.filename || "tệp"}`,
    );
  }
  return null;
}

const KIND_LABELS = {
  contact: (text) => `📱 ${text}`,
  location: (text) => `📍 ${text}`,
  video: () => "🎬 video",
  unsupported: () => "🚫 nội dung không hỗ trợ (unsupported)",
};

function renderEntry(entry) {
  const label = KIND_LABELS[entry.kind];
  const text = label ? label(entry.text) : entry.text;
  const time = new Date(entry.date * 1000).toLocaleTimeString("vi-VN", {
    hour: "2-digit",
    minute: "2-digit",
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
    textBlock(entry.caption, "message-caption"),
    inlineKeyboard(entry),
    el("small", { className: "meta" }, entry.edited ? `đã sửa · ${time}` : time),
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
          button.url ? `${button.label} ↗` : button.label,
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

/** The label with its icon in front, unless the bot already put that icon there. */
function withIcon(icon, label) {
  return label.startsWith(icon) ? label : `${icon} ${label}`;
}

function replyButton(button) {
  if (button.request === "contact") {
    return el(
      "button",
      { type: "button", "data-testid": "share-contact", onclick: shareContact },
      withIcon("📱", button.label),
    );
  }
  if (button.request === "location") {
    return el(
      "button",
      { type: "button", "data-testid": "share-location", onclick: shareLocation },
      withIcon("📍", button.label),
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
    window.open(button.url, "_blank", "noopener");
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
  send({ text: `/start ${payload}` });
}

// ---- wiring ---------------------------------------------------------------------------------

function init() {
  for (const button of document.querySelectorAll(".platforms button")) {
    button.addEventListener("click", () => setPlatform(button.dataset.platform));
  }
  $("new-user-form").addEventListener("submit", addUser);
  $("composer").addEventListener("submit", sendText);
  $("deeplink-form").addEventListener("submit", openDeepLink);
  $("photo-input").addEventListener("change", sendPhoto);
  $("send-location").addEventListener("click", shareLocation);
  $("send-sticker").addEventListener("click", () => send({ sticker: true }));
  $("send-unsupported").addEventListener("click", () =>
    send(state.platform === "telegram" ? { video: true } : { unsupported: true }),
  );
  setPlatform("telegram");
  loadUsers().catch((error) => setStatus(error.message, true));
  setInterval(() => loadUsers().catch(() => {}), USERS_REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", init);
