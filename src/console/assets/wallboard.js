// Wallboard: per queue and tier, waiting conversations and the longest wait; agents by
// state and occupancy; offers answered in time and satisfaction over the last hour; a
// waiting conversation's explanation on click. Polls Admin ListWaiting and ListAgents,
// and GetAgentKpis every few rounds.

import { unary, describeStatus } from "./grpc.js";
import { h, duration, label } from "./dom.js";

/** How often the wallboard asks again. */
const EVERY_MS = 1500;
/** Agent KPIs change slowly: asked every this many rounds. */
const KPI_ROUNDS = 5;

/** Starts the wallboard view in `root`. */
export function startWallboard(root) {
  const tiles = h("div", { class: "tiles" });
  const queues = h("tbody");
  const agents = h("tbody");
  const waiting = h("tbody");
  const explanation = h("div", { class: "explanation", "data-testid": "wall-explanation" }, h("p", { class: "hint" }, "Click a waiting conversation to see why it waits."));
  const status = h("p", { class: "status", "data-testid": "wall-status" }, "loading…");
  const table = (head, body, testid) => h("table", { "data-testid": testid }, h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))), body);
  root.append(h("div", { class: "wallboard" },
    h("header", {}, h("h2", {}, "Wallboard"), status),
    tiles,
    h("div", { class: "columns" },
      h("section", {}, h("h3", {}, "Queues"), table(["queue", "tier", "waiting", "longest wait"], queues, "wall-queues"),
        h("h3", {}, "Agents"), table(["agent", "presence", "load", "idle"], agents, "wall-agents")),
      h("section", { class: "wide" }, h("h3", {}, "Waiting now"), table(["#", "conversation", "channel", "queue", "tier", "waited", "intent", "handoff"], waiting, "wall-waiting"),
        explanation))));

  const tile = (name, value, testid) => h("div", { class: "tile", "data-testid": testid }, h("span", { class: "value" }, value), h("span", { class: "name" }, name));

  async function explain(id) {
    explanation.replaceChildren(h("p", {}, `explaining ${id}…`));
    try {
      const e = await unary("/switchboard.v1.Admin/ExplainConversation", { conversationId: id });
      explanation.replaceChildren(
        h("h3", {}, `Why ${id} is where it is`),
        h("p", { class: "verdict", "data-testid": "wall-verdict" }, e.verdict),
        h("dl", {}, [["state", label(e.state, "CONVERSATION_STATE_")], ["position", e.position || "—"], ["priority", e.priority.toFixed(1)],
          ["tier", e.valueTier], ["boosts", e.boosts.join(", ") || "—"], ["escalation", e.escalationStep || "—"],
          ["requires", e.requiredSkills.map((s) => `${s.skill} ≥ ${s.minProficiency}`).join(", ") || "—"]]
          .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        table(["candidate", "eligible", "room", "presence", "missing"], h("tbody", {}, e.candidates.map((c) => h("tr", {},
          h("td", {}, c.agentId), h("td", {}, c.eligible ? "yes" : "no"), h("td", {}, c.hasRoom ? "yes" : "no"),
          h("td", {}, label(c.presence, "PRESENCE_")), h("td", {}, c.missingSkills.map((s) => `${s.skill} ≥ ${s.minProficiency}`).join(", "))))),
          "wall-candidates"));
    } catch (err) {
      explanation.replaceChildren(h("p", { class: "error" }, `cannot explain ${id}: ${err.message}`));
    }
  }

  let round = 0;
  let kpis = null;

  /** The last hour over every agent: offers accepted in time, mean satisfaction. */
  function serviceTiles() {
    if (!kpis) return [];
    let offers = 0, within = 0, answers = 0, points = 0;
    for (const a of kpis.agents) {
      offers += a.offers;
      within += a.acceptedWithin;
      answers += a.satisfactionAnswers;
      points += a.satisfactionMean * a.satisfactionAnswers;
    }
    return [
      tile(`offers accepted within ${kpis.acceptWithinSecs} s, last hour`, offers ? `${Math.round((100 * within) / offers)} %` : "—", "wall-service-level"),
      tile(`satisfaction (1-5), last hour`, answers ? (points / answers).toFixed(1) : "—", "wall-satisfaction"),
    ];
  }

  function render(list, pool) {
    const groups = new Map();
    for (const c of list.conversations) {
      const key = `${c.queue}\u0000${c.valueTier}`;
      const g = groups.get(key) ?? { queue: c.queue, tier: c.valueTier, count: 0, longest: 0 };
      g.count += 1;
      g.longest = Math.max(g.longest, c.waitedMs);
      groups.set(key, g);
    }
    const longest = Math.max(0, ...list.conversations.map((c) => c.waitedMs));
    const byState = { available: 0, away: 0, "wrap up": 0 };
    let load = 0, capacity = 0, busy = 0;
    for (const a of pool.agents) {
      const state = label(a.presence, "PRESENCE_");
      byState[state] = (byState[state] ?? 0) + 1;
      const held = (a.load?.messaging ?? 0) + (a.load?.email ?? 0) + (a.load?.voice ?? 0);
      load += held;
      capacity += (a.capacity?.messaging ?? 0) + (a.capacity?.email ?? 0) + (a.capacity?.voice ?? 0);
      if (held > 0) busy += 1;
    }
    tiles.replaceChildren(
      tile("waiting", list.total, "wall-waiting-total"),
      tile("longest wait", duration(longest), "wall-longest"),
      tile("agents signed in", pool.agents.length, "wall-agents-total"),
      tile("available", byState.available, "wall-available"),
      tile("away", byState.away, "wall-away"),
      tile("wrap-up", byState["wrap up"], "wall-wrap-up"),
      tile("busy", busy, "wall-busy"),
      tile("conversations with agents", load, "wall-held"),
      tile("occupancy", capacity ? `${Math.round((100 * load) / capacity)} %` : "—", "wall-occupancy"),
      ...serviceTiles());
    queues.replaceChildren(...[...groups.values()].sort((a, b) => b.count - a.count).map((g) =>
      h("tr", {}, h("td", {}, g.queue), h("td", {}, g.tier), h("td", {}, g.count), h("td", {}, duration(g.longest)))));
    if (!groups.size) queues.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "hint" }, "nobody waits")));
    agents.replaceChildren(...pool.agents.map((a) => h("tr", {},
      h("td", {}, a.displayName ? `${a.displayName} (${a.agentId})` : a.agentId), h("td", {}, label(a.presence, "PRESENCE_")),
      h("td", {}, `${a.conversationIds.length} / ${(a.capacity?.messaging ?? 0) + (a.capacity?.email ?? 0) + (a.capacity?.voice ?? 0)}`),
      h("td", {}, a.idleMs ? duration(a.idleMs) : "busy"))));
    waiting.replaceChildren(...list.conversations.map((c) => h("tr", { class: "clickable", "data-testid": "wall-waiting-row", onclick: () => explain(c.conversationId) },
      h("td", {}, c.position), h("td", {}, c.conversationId), h("td", {}, label(c.channel, "CHANNEL_")), h("td", {}, c.queue), h("td", {}, c.valueTier),
      h("td", {}, duration(c.waitedMs)), h("td", {}, c.intent || "—"), h("td", {}, c.handoffReason || "—"))));
  }

  async function poll() {
    try {
      const [list, pool, fresh] = await Promise.all([
        unary("/switchboard.v1.Admin/ListWaiting", { limit: 200 }),
        unary("/switchboard.v1.Admin/ListAgents", {}),
        round++ % KPI_ROUNDS === 0 ? unary("/switchboard.v1.Admin/GetAgentKpis", { windowSecs: 3600 }) : null,
      ]);
      kpis = fresh ?? kpis;
      render(list, pool);
      status.textContent = `updated ${new Date().toLocaleTimeString()}`;
      status.dataset.state = "live";
    } catch (err) {
      status.textContent = `cannot read: ${err.code !== undefined ? describeStatus(err.status) : err.message}`;
      status.dataset.state = "error";
    }
    setTimeout(poll, EVERY_MS);
  }
  poll();
}
