// Agent desk: one AgentDesk Session per signed-in agent: offers with their context,
// accept or decline, then reply, transfer and close, with the bot's suggestions.

import { openCall, describeStatus } from "./grpc.js";
import { h, duration, label, randomId } from "./dom.js";

const KEY = "switchboard.desk";

/** "orders:4, en:5" -> [{skill, proficiency}]; throws naming the bad entry. */
function parseSkills(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((entry) => {
    const [skill, level = "3"] = entry.split(":").map((s) => s.trim());
    const proficiency = Number(level);
    if (!skill || !Number.isInteger(proficiency) || proficiency < 1 || proficiency > 5) {
      throw new Error(`skills: "${entry}" is not skill:level with a level of 1 to 5`);
    }
    return { skill, proficiency };
  });
}

/** Starts the agent desk view in `root`. */
export function startDesk(root) {
  const saved = JSON.parse(localStorage.getItem(KEY) ?? "null") ?? {};
  const field = (name, value, attrs = {}) => h("input", { name, value, "data-testid": `desk-${name}`, ...attrs });
  const agentId = field("agent", saved.agentId ?? "demo-agent");
  const displayName = field("name", saved.displayName ?? "Demo Agent");
  const skills = field("skills", saved.skills ?? "orders:4, en:5");
  const messaging = field("messaging", saved.messaging ?? "2", { type: "number", min: "0", max: "100" });
  const email = field("email", saved.email ?? "0", { type: "number", min: "0", max: "100" });
  const voice = field("voice", saved.voice ?? "0", { type: "number", min: "0", max: "100" });
  const presence = h("select", { "data-testid": "desk-presence" },
    h("option", { value: "PRESENCE_AVAILABLE" }, "available"), h("option", { value: "PRESENCE_AWAY" }, "away"));
  const problem = h("p", { class: "error", "data-testid": "desk-error" });
  const signIn = h("form", { class: "sign-in", onsubmit: (e) => { e.preventDefault(); start(); } },
    h("h2", {}, "Agent desk: sign in"),
    h("label", {}, "Agent id", agentId), h("label", {}, "Name", displayName),
    h("label", {}, "Skills (skill:level, …)", skills),
    h("fieldset", {}, h("legend", {}, "Capacity"), h("label", {}, "messaging", messaging), h("label", {}, "e-mail", email), h("label", {}, "voice", voice)),
    h("label", {}, "Presence", presence),
    h("button", { type: "submit", "data-testid": "desk-sign-in" }, "Sign in"), problem);

  const banner = h("div", { class: "banner", "data-testid": "desk-banner" });
  const offers = h("div", { class: "offers", "data-testid": "desk-offers" });
  const chats = h("div", { class: "conversations", "data-testid": "desk-conversations" });
  const events = h("ol", { class: "events" });
  const workspace = h("div", { class: "workspace", hidden: true }, banner,
    h("div", { class: "columns" },
      h("section", {}, h("h3", {}, "Offers"), offers),
      h("section", { class: "wide" }, h("h3", {}, "Conversations"), chats),
      h("section", {}, h("h3", {}, "Events"), events)));
  root.append(h("div", { class: "desk" }, signIn, workspace));

  let call = null;
  let requests = 0;
  const pending = new Map(); // request_id -> {what, conversationId}
  const conversations = new Map(); // conversation_id -> {card, transcript, ...}
  let presenceNow = null;
  let signingOut = false;

  function note(text, kind = "") {
    events.prepend(h("li", { class: kind }, `${new Date().toLocaleTimeString()} ${text}`));
    while (events.children.length > 50) events.lastChild.remove();
  }

  function act(what, action, conversationId) {
    const requestId = `${what}-${++requests}`;
    pending.set(requestId, { what, conversationId, presence: action.setPresence?.presence });
    call.send({ requestId, ...action });
  }

  function showBanner(agent, timeoutMs) {
    const state = h("strong", { "data-testid": "desk-presence-now" }, label(presenceNow, "PRESENCE_"));
    banner.replaceChildren(
      h("span", {}, `Signed in as ${agent}`, timeoutMs ? ` · offers expire after ${duration(timeoutMs)}` : "", " · "), state,
      h("button", { type: "button", "data-testid": "desk-available", onclick: () => act("presence", { setPresence: { presence: "PRESENCE_AVAILABLE" } }) }, "Available"),
      h("button", { type: "button", "data-testid": "desk-away", onclick: () => act("presence", { setPresence: { presence: "PRESENCE_AWAY" } }) }, "Away"),
      h("button", { type: "button", "data-testid": "desk-sign-out", onclick: () => { signingOut = true; call?.close(); } }, "Sign out"));
  }

  function transcriptList(entries) {
    return h("ol", { class: "transcript" }, entries.map((t) =>
      h("li", { class: label(t.sender, "SENDER_") }, h("span", { class: "who" }, label(t.sender, "SENDER_")), t.text)));
  }

  function offerCard(offer) {
    const summary = offer.customerSummary;
    const facts = [
      ["channel", label(offer.channel, "CHANNEL_")], ["tier", offer.valueTier], ["queue", offer.queue],
      ["language", offer.language], ["intent", offer.intent || "—"], ["handoff", offer.handoffReason || "—"],
      ["waited", duration(offer.waitedMs)],
    ];
    if (summary?.profileId) {
      facts.push(["value", Math.round(summary.value)], ["health", summary.healthKnown ? summary.health.toFixed(2) : "—"]);
      if (summary.atRisk) facts.push(["at risk", "yes"]);
      if (summary.recent?.length) facts.push(["past", `${summary.recent.length} conversation(s)`]);
    }
    const card = h("article", { class: "offer", "data-testid": "desk-offer", dataset: { conversation: offer.conversationId } },
      h("header", {}, h("strong", {}, offer.customer?.displayName || offer.customer?.customerId || "customer"), offer.resumed ? " (resumed)" : ""),
      h("dl", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      transcriptList(offer.transcript ?? []),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", "data-testid": "desk-accept", onclick: () => act("accept", { accept: { conversationId: offer.conversationId } }, offer.conversationId) }, "Accept"),
        h("button", { type: "button", "data-testid": "desk-decline", onclick: () => act("decline", { decline: { conversationId: offer.conversationId, reason: "declined at the console" } }, offer.conversationId) }, "Decline")));
    return card;
  }

  function openConversation(offer) {
    const id = offer.conversationId;
    const transcript = transcriptList(offer.transcript ?? []);
    const suggestions = h("div", { class: "suggestions", "data-testid": "desk-suggestions" });
    const reply = h("input", { type: "text", placeholder: "Reply to the customer…", "data-testid": "desk-reply-input", autocomplete: "off" });
    const kind = h("select", {}, ["agentId", "skill", "queue"].map((k) => h("option", { value: k }, k === "agentId" ? "agent" : k)));
    const target = h("input", { type: "text", placeholder: "transfer to…" });
    const state = h("span", { class: "state" }, "assigned");
    const card = h("article", { class: "conversation", "data-testid": "desk-conversation", dataset: { conversation: id } },
      h("header", {}, h("strong", {}, offer.customer?.displayName || offer.customer?.customerId || "customer"),
        h("span", { class: "badge" }, label(offer.channel, "CHANNEL_")), h("span", { class: "badge" }, `${offer.valueTier} tier`),
        offer.intent ? h("span", { class: "badge", title: "intent" }, offer.intent) : null,
        offer.handoffReason ? h("span", { class: "badge", title: "handoff reason" }, `handoff: ${offer.handoffReason}`) : null, state),
      transcript, suggestions,
      h("form", { class: "composer", onsubmit: (e) => {
        e.preventDefault();
        const text = reply.value.trim();
        if (!text) return;
        act("reply", { reply: { conversationId: id, text } }, id);
        transcript.append(h("li", { class: "agent" }, h("span", { class: "who" }, "you"), text));
        reply.value = "";
      } }, reply, h("button", { type: "submit", "data-testid": "desk-reply-send" }, "Send")),
      h("div", { class: "actions" },
        h("form", { class: "transfer", onsubmit: (e) => {
          e.preventDefault();
          if (target.value.trim()) act("transfer", { transfer: { conversationId: id, [kind.value]: target.value.trim() } }, id);
        } }, kind, target, h("button", { type: "submit" }, "Transfer")),
        h("button", { type: "button", "data-testid": "desk-close", onclick: () => act("close", { close: { conversationId: id } }, id) }, "Close")));
    conversations.set(id, { card, transcript, suggestions, state });
    chats.prepend(card);
  }

  function ended(id, why) {
    const c = conversations.get(id);
    offers.querySelector(`[data-conversation="${CSS.escape(id)}"]`)?.remove();
    if (!c) return;
    c.state.textContent = why;
    c.card.classList.add("ended");
    c.card.querySelectorAll("input, button, select").forEach((e) => { e.disabled = true; });
    c.card.append(h("button", { type: "button", onclick: () => { c.card.remove(); conversations.delete(id); } }, "Dismiss"));
  }

  const offered = new Map();

  function onFrame(frame) {
    switch (frame.frame) {
      case "signedIn":
        signIn.hidden = true;
        workspace.hidden = false;
        presenceNow ??= presence.value;
        showBanner(frame.signedIn.agentId, frame.signedIn.offerTimeoutMs);
        note(`signed in as ${frame.signedIn.agentId}`);
        break;
      case "offer": {
        const offer = frame.offer;
        offered.set(offer.conversationId, offer);
        offers.querySelector(`[data-conversation="${CSS.escape(offer.conversationId)}"]`)?.remove();
        offers.prepend(offerCard(offer));
        note(`offer: ${offer.conversationId} (${offer.handoffReason || "routed"})`);
        break;
      }
      case "offerWithdrawn":
        offers.querySelector(`[data-conversation="${CSS.escape(frame.offerWithdrawn.conversationId)}"]`)?.remove();
        note(`offer withdrawn: ${frame.offerWithdrawn.reason}`);
        break;
      case "customerMessage": {
        const m = frame.customerMessage;
        conversations.get(m.conversationId)?.transcript.append(h("li", { class: "customer" }, h("span", { class: "who" }, "customer"), m.text));
        conversations.get(m.conversationId)?.state.replaceChildren("assigned");
        break;
      }
      case "suggestions": {
        const s = frame.suggestions;
        const c = conversations.get(s.conversationId);
        if (!c) break;
        c.suggestions.replaceChildren(s.suggestions.length ? h("span", { class: "who" }, "bot suggests:") : "",
          ...s.suggestions.map((x) => h("button", { type: "button", class: "suggestion", title: `${x.intent} (${Math.round(x.confidence * 100)}%)`,
            onclick: () => { c.card.querySelector("[data-testid=desk-reply-input]").value = x.text; } }, x.text)));
        break;
      }
      case "ended":
        ended(frame.ended.conversationId, `ended: ${label(frame.ended.reason, "END_REASON_")}`);
        note(`ended: ${frame.ended.conversationId}`);
        break;
      case "parked": {
        const c = conversations.get(frame.parked.conversationId);
        c?.state.replaceChildren(`parked until ${new Date(frame.parked.untilUnixMs).toLocaleTimeString()}`);
        break;
      }
      case "presenceChanged":
        presenceNow = frame.presenceChanged.presence;
        banner.querySelector("[data-testid=desk-presence-now]")?.replaceChildren(label(presenceNow, "PRESENCE_"));
        note(`presence: ${label(presenceNow, "PRESENCE_")}${frame.presenceChanged.reason ? " (" + frame.presenceChanged.reason + ")" : ""}`);
        break;
      case "done": {
        const done = pending.get(frame.done.requestId);
        pending.delete(frame.done.requestId);
        if (!done) break;
        if (done.what === "accept") {
          offers.querySelector(`[data-conversation="${CSS.escape(done.conversationId)}"]`)?.remove();
          const offer = offered.get(done.conversationId);
          if (offer && !conversations.has(done.conversationId)) openConversation(offer);
        } else if (done.what === "decline") {
          offers.querySelector(`[data-conversation="${CSS.escape(done.conversationId)}"]`)?.remove();
        } else if (done.what === "transfer") {
          ended(done.conversationId, "transferred");
        } else if (done.what === "presence") {
          presenceNow = done.presence;
          banner.querySelector("[data-testid=desk-presence-now]")?.replaceChildren(label(presenceNow, "PRESENCE_"));
        }
        break;
      }
      case "rejected": {
        const r = frame.rejected;
        pending.delete(r.requestId);
        note(`refused (${r.requestId}): ${r.message}`, "error");
        break;
      }
    }
  }

  async function start() {
    problem.textContent = "";
    let skillList;
    try { skillList = parseSkills(skills.value); } catch (e) { problem.textContent = e.message; return; }
    localStorage.setItem(KEY, JSON.stringify({ agentId: agentId.value, displayName: displayName.value, skills: skills.value, messaging: messaging.value, email: email.value, voice: voice.value }));
    presenceNow = presence.value;
    try {
      call = await openCall("/switchboard.v1.AgentDesk/Session", {
        onMessage: onFrame,
        onEnd(status) {
          call = null;
          workspace.hidden = true;
          signIn.hidden = false;
          offers.replaceChildren();
          chats.replaceChildren();
          conversations.clear();
          if (!signingOut && status.code !== 0) problem.textContent = `signed out: ${describeStatus(status)}`;
          signingOut = false;
        },
      });
      call.send({
        requestId: `sign-in-${randomId()}`,
        signIn: {
          agentId: agentId.value.trim(), displayName: displayName.value.trim(), skills: skillList,
          capacity: { messaging: Number(messaging.value) || 0, email: Number(email.value) || 0, voice: Number(voice.value) || 0 },
          presence: presence.value,
        },
      });
    } catch (e) {
      problem.textContent = e.message;
    }
  }
}
