// Agent desk: one AgentDesk Session per signed-in agent: offers with their context,
// accept or decline, then reply, transfer and close, with the bot's suggestions.
//
// Sign out ends the session's request stream (the server signs the agent out and
// routes its conversations again). Any other end of a signed-in session (the network
// dropped, the server restarted, the tab was reloaded) is a lost connection: the
// server holds the agent's conversations for its reconnect window, and the desk
// signs in again with the details it stored, backing off from 1 s to 15 s between
// tries; the conversations come back as resumed offers and open as they were.

import { openCall, describeStatus } from "./grpc.js";
import { h, duration, label, randomId } from "./dom.js";

const KEY = "switchboard.desk";
/** Set (for this tab) while the desk is signed in: a reload signs in again. */
const ACTIVE = "switchboard.desk.active";
/** First and longest wait between reconnect tries, doubling from one to the other. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 15000;
/** Ends of a session that are the connection's, not a refusal: CANCELLED, UNKNOWN,
 * DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE (the socket closed, a drain). */
const LOST = new Set([1, 2, 4, 13, 14]);

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
  const reconnecting = h("div", { class: "banner error", "data-testid": "desk-reconnecting", hidden: true });
  const offers = h("div", { class: "offers", "data-testid": "desk-offers" });
  const chats = h("div", { class: "conversations", "data-testid": "desk-conversations" });
  const events = h("ol", { class: "events" });
  const workspace = h("div", { class: "workspace", hidden: true }, banner, reconnecting,
    h("div", { class: "columns" },
      h("section", {}, h("h3", {}, "Offers"), offers),
      h("section", { class: "wide" }, h("h3", {}, "Conversations"), chats),
      h("section", {}, h("h3", {}, "Events"), events)));
  root.append(h("div", { class: "desk" }, signIn, workspace));

  let call = null;
  let session = 0; // which openCall is current; frames and ends of older ones are ignored
  let connected = false; // signed in on `call`
  let reconnect = false; // a lost connection signs in again (once the server took a sign-in)
  let retries = 0;
  let retryTimer = null;
  let requests = 0;
  const pending = new Map(); // request_id -> {what, conversationId}
  const conversations = new Map(); // conversation_id -> {card, transcript, ...}
  let presenceNow = null;
  let signingOut = false;

  function note(text, kind = "") {
    events.prepend(h("li", { class: kind }, `${new Date().toLocaleTimeString()} ${text}`));
    while (events.children.length > 50) events.lastChild.remove();
  }

  /** Sends an action; false (and a note) while the desk is not connected. */
  function act(what, action, conversationId) {
    if (!connected) {
      note("not connected: wait until the desk has reconnected", "error");
      return false;
    }
    const requestId = `${what}-${++requests}`;
    pending.set(requestId, { what, conversationId, presence: action.setPresence?.presence });
    call.send({ requestId, ...action });
    return true;
  }

  function signOut() {
    signingOut = true;
    sessionStorage.removeItem(ACTIVE);
    clearTimeout(retryTimer);
    retryTimer = null;
    // The end of the request stream: the server signs out at once.
    if (call) {
      call.end();
    } else {
      session += 1; // a sign-in on its way is ended when it opens
      showSignIn();
    }
  }

  function showSignIn() {
    call = null;
    connected = false;
    reconnect = false;
    retries = 0;
    signingOut = false;
    sessionStorage.removeItem(ACTIVE);
    workspace.hidden = true;
    signIn.hidden = false;
    reconnecting.hidden = true;
    offers.replaceChildren();
    chats.replaceChildren();
    conversations.clear();
  }

  /** The session ended without a sign-out: try again after the next back-off. */
  function reconnectLater(status) {
    const delay = Math.min(FIRST_RETRY_MS * 2 ** retries, MAX_RETRY_MS);
    retries += 1;
    reconnecting.textContent = `connection lost, reconnecting… (next try in ${Math.round(delay / 1000)} s)`;
    reconnecting.hidden = false;
    note(`connection lost: ${describeStatus(status)}`, "error");
    retryTimer = setTimeout(() => { retryTimer = null; connect(); }, delay);
  }

  function showBanner(agent, timeoutMs) {
    const state = h("strong", { "data-testid": "desk-presence-now" }, label(presenceNow, "PRESENCE_"));
    banner.replaceChildren(
      h("span", {}, `Signed in as ${agent}`, timeoutMs ? ` · offers expire after ${duration(timeoutMs)}` : "", " · "), state,
      h("button", { type: "button", "data-testid": "desk-available", onclick: () => act("presence", { setPresence: { presence: "PRESENCE_AVAILABLE" } }) }, "Available"),
      h("button", { type: "button", "data-testid": "desk-away", onclick: () => act("presence", { setPresence: { presence: "PRESENCE_AWAY" } }) }, "Away"),
      h("button", { type: "button", "data-testid": "desk-sign-out", onclick: signOut }, "Sign out"));
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
        if (!text || !act("reply", { reply: { conversationId: id, text } }, id)) return;
        transcript.append(h("li", { class: "agent" }, h("span", { class: "who" }, "you"), text));
        reply.value = "";
      } }, reply, h("button", { type: "submit", "data-testid": "desk-reply-send" }, "Send")),
      h("div", { class: "actions" },
        h("form", { class: "transfer", onsubmit: (e) => {
          e.preventDefault();
          if (target.value.trim()) act("transfer", { transfer: { conversationId: id, [kind.value]: target.value.trim() } }, id);
        } }, kind, target, h("button", { type: "submit" }, "Transfer")),
        h("button", { type: "button", "data-testid": "desk-close", onclick: () => act("close", { close: { conversationId: id } }, id) }, "Close")));
    conversations.get(id)?.card.remove();
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
        connected = true;
        reconnect = true;
        retries = 0;
        sessionStorage.setItem(ACTIVE, "1");
        problem.textContent = "";
        reconnecting.hidden = true;
        // What this agent holds comes again, as resumed offers; what it does not
        // (routed to others while it was away) is gone.
        offers.replaceChildren();
        chats.replaceChildren();
        conversations.clear();
        pending.clear();
        signIn.hidden = true;
        workspace.hidden = false;
        presenceNow ??= presence.value;
        showBanner(frame.signedIn.agentId, frame.signedIn.offerTimeoutMs);
        note(`signed in as ${frame.signedIn.agentId}`);
        break;
      case "offer": {
        const offer = frame.offer;
        if (offer.resumed) {
          // Held for this agent while it was away: already its own, no accept.
          offers.querySelector(`[data-conversation="${CSS.escape(offer.conversationId)}"]`)?.remove();
          openConversation(offer);
          note(`resumed: ${offer.conversationId}`);
          break;
        }
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

  function start() {
    problem.textContent = "";
    try { parseSkills(skills.value); } catch (e) { problem.textContent = e.message; return; }
    localStorage.setItem(KEY, JSON.stringify({ agentId: agentId.value, displayName: displayName.value, skills: skills.value, messaging: messaging.value, email: email.value, voice: voice.value }));
    presenceNow = presence.value;
    reconnect = false;
    retries = 0;
    connect();
  }

  /** Opens a session and signs in with the details stored in localStorage. */
  async function connect() {
    const mine = ++session;
    const stored = JSON.parse(localStorage.getItem(KEY) ?? "null") ?? {};
    // A reconnect keeps the presence the agent had (wrap-up is the router's to set).
    const away = (presenceNow ?? presence.value) === "PRESENCE_AWAY";
    let opened;
    try {
      opened = await openCall("/switchboard.v1.AgentDesk/Session", {
        onMessage: (frame) => { if (mine === session) onFrame(frame); },
        onEnd(status) {
          if (mine !== session) return;
          call = null;
          connected = false;
          if (!signingOut && reconnect && LOST.has(status.code)) {
            reconnectLater(status);
            return;
          }
          const quiet = signingOut;
          showSignIn();
          if (!quiet && status.code !== 0) problem.textContent = `signed out: ${describeStatus(status)}`;
        },
      });
      opened.send({
        requestId: `sign-in-${randomId()}`,
        signIn: {
          agentId: (stored.agentId ?? "").trim(), displayName: (stored.displayName ?? "").trim(),
          skills: parseSkills(stored.skills ?? ""),
          capacity: { messaging: Number(stored.messaging) || 0, email: Number(stored.email) || 0, voice: Number(stored.voice) || 0 },
          presence: away ? "PRESENCE_AWAY" : "PRESENCE_AVAILABLE",
        },
      });
    } catch (e) {
      if (mine !== session) return;
      if (reconnect) { reconnectLater({ code: 14, message: e.message }); return; }
      problem.textContent = e.message;
      return;
    }
    if (mine === session) call = opened;
    else opened.end(); // signed out meanwhile: end it cleanly
  }

  // This tab was signed in before a reload: sign in again (the server held the
  // conversations for the reconnect window).
  if (sessionStorage.getItem(ACTIVE)) {
    reconnect = true;
    problem.textContent = "signing in again…";
    connect();
  }
}
