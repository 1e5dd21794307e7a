// Web chat: a customer on the web channel, through one ChannelGateway Session as a web
// chat adapter would hold it (hello, messages, acknowledged deliveries).

import { openCall, describeStatus } from "./grpc.js";
import { h, label, randomId } from "./dom.js";

const KEY = "switchboard.chat";

function stored() {
  const saved = JSON.parse(localStorage.getItem(KEY) ?? "null");
  if (saved?.customerId && saved?.adapterId && saved?.thread) return saved;
  const id = randomId();
  return { customerId: `web-${id}`, adapterId: `console-web-${id}`, thread: `web-thread-${randomId()}`, name: "Web visitor" };
}

/** Starts the web chat view in `root`. */
export function startChat(root) {
  const state = stored();
  const save = () => localStorage.setItem(KEY, JSON.stringify(state));
  save();
  let call = null;
  let sent = 0;
  const bubbles = new Map(); // client_message_id -> element

  const log = h("ol", { class: "messages", "data-testid": "chat-messages" });
  const queue = h("p", { class: "queue", "data-testid": "chat-queue", hidden: true });
  const status = h("p", { class: "status", "data-testid": "chat-status" }, "connecting…");
  const input = h("input", { type: "text", placeholder: "Write a message…", "data-testid": "chat-input", autocomplete: "off" });
  const name = h("input", { type: "text", value: state.name, "aria-label": "Your name" });
  const language = h("select", { "aria-label": "Language" }, h("option", { value: "en" }, "English"), h("option", { value: "zh" }, "中文"));
  const clv = h("input", { type: "number", min: "0", step: "100", placeholder: "CLV (optional)", "aria-label": "Customer lifetime value" });
  const form = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); say(input.value); } },
    input, h("button", { type: "submit", "data-testid": "chat-send" }, "Send"));

  function scroll() { log.scrollTop = log.scrollHeight; }

  function add(sender, text, extra = {}) {
    const item = h("li", { class: `bubble ${sender}` }, h("span", { class: "who" }, extra.who ?? sender), h("p", {}, text));
    if (extra.buttons?.length) {
      item.append(h("div", { class: "buttons" }, extra.buttons.map((b) =>
        h("button", { type: "button", "data-testid": "chat-button", onclick: () => say(b.payload || b.label, b.label) }, b.label))));
    }
    log.append(item);
    scroll();
    return item;
  }

  function say(text, shown = text) {
    text = text.trim();
    if (!text || !call) return;
    const id = `m${++sent}-${randomId()}`;
    const value = Number(clv.value);
    state.name = name.value.trim() || "Web visitor";
    save();
    bubbles.set(id, add("customer", shown, { who: state.name }));
    call.send({
      message: {
        channel: "CHANNEL_WEB",
        channelConversationId: state.thread,
        customer: { customerId: state.customerId, displayName: state.name, ...(clv.value !== "" && value >= 0 ? { value: { clv: value } } : {}) },
        text,
        language: language.value,
        clientMessageId: id,
      },
    });
    input.value = "";
  }

  function delivered(delivery) {
    call?.send({ ack: { upToDeliveryId: delivery.deliveryId } });
    if (delivery.channelConversationId !== state.thread) return; // an older thread's
    if (delivery.body === "closed") {
      queue.hidden = true;
      add("system", `Conversation ended (${label(delivery.closed.reason, "END_REASON_")}).`, { who: "system" });
      log.append(h("li", { class: "bubble system" }, h("button", { type: "button", onclick: restart }, "Start a new conversation")));
      scroll();
      return;
    }
    const m = delivery.message;
    const sender = label(m.sender, "SENDER_");
    add(sender, m.text, { who: sender === "agent" ? `agent ${m.agentId}` : sender, buttons: m.buttons });
    if (m.queueStatus) {
      const s = m.queueStatus;
      queue.hidden = false;
      queue.textContent = `In the queue: position ${s.position}` + (s.estimatedWaitSeconds ? `, about ${Math.max(1, Math.round(s.estimatedWaitSeconds / 60))} min` : "");
    } else if (sender === "agent") {
      queue.hidden = true;
    }
  }

  function restart() {
    state.thread = `web-thread-${randomId()}`;
    save();
    log.replaceChildren();
    queue.hidden = true;
    add("system", "New conversation: say hello.", { who: "system" });
  }

  async function connect() {
    status.textContent = "connecting…";
    try {
      call = await openCall("/switchboard.v1.ChannelGateway/Session", {
        onMessage(frame) {
          switch (frame.frame) {
            case "welcome":
              status.textContent = `connected as customer ${state.customerId}`;
              status.dataset.state = "connected";
              break;
            case "delivery": delivered(frame.delivery); break;
            case "accepted": bubbles.get(frame.accepted.clientMessageId)?.classList.add("accepted"); break;
            case "rejected": {
              const r = frame.rejected;
              const bubble = bubbles.get(r.clientMessageId);
              (bubble ?? log).append(h("p", { class: "error" }, `not sent: ${r.message}`));
              break;
            }
          }
        },
        onEnd(end) {
          call = null;
          status.dataset.state = "ended";
          status.textContent = `disconnected (${describeStatus(end)}); reconnecting in 3 s`;
          setTimeout(connect, 3000);
        },
      });
      call.send({ hello: { adapterId: state.adapterId } });
    } catch (e) {
      status.textContent = `cannot connect: ${e.message}`;
    }
  }

  root.append(
    h("div", { class: "chat" },
      h("header", {}, h("h2", {}, "Web chat"), h("div", { class: "who-am-i" }, name, language, clv)),
      status, log, queue, form));
  connect();
}
