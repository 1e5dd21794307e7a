// The console shell: the view named by the location's hash (#chat, #desk, #wallboard),
// each started the first time it is shown, and the connection settings.

import { settings, loadContract } from "./grpc.js";
import { startChat } from "./chat.js";
import { startDesk } from "./desk.js";
import { startWallboard } from "./wallboard.js";

const VIEWS = { chat: startChat, desk: startDesk, wallboard: startWallboard };
const started = new Set();

function show() {
  const name = location.hash.slice(1) in VIEWS ? location.hash.slice(1) : "chat";
  for (const view of Object.keys(VIEWS)) {
    document.getElementById(`view-${view}`).hidden = view !== name;
    document.querySelector(`nav a[href="#${view}"]`).classList.toggle("active", view === name);
  }
  if (!started.has(name)) {
    started.add(name);
    try {
      VIEWS[name](document.getElementById(`view-${name}`));
    } catch (e) {
      problem(`The ${name} view failed to start: ${e.message}`);
    }
  }
  document.title = `Switchboard: ${name}`;
}

/** Shows a problem the page cannot recover from by itself. */
function problem(text) {
  document.getElementById("problem").textContent = text;
}
window.addEventListener("error", (e) => problem(`Console error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => problem(`Console error: ${e.reason?.message ?? e.reason}`));

const token = document.getElementById("token");
const tenant = document.getElementById("tenant");
token.value = settings.token;
tenant.value = settings.tenant;
document.getElementById("settings").addEventListener("submit", (e) => {
  e.preventDefault();
  settings.token = token.value.trim();
  settings.tenant = tenant.value.trim();
  location.reload();
});

loadContract().then(() => {
  window.addEventListener("hashchange", show);
  show();
  document.body.dataset.ready = "true";
}, (e) => {
  problem(`The console cannot load the contract: ${e.message}`);
});
