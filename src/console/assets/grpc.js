// The console's client for the switchboard.v1 contract: the served .proto files parsed
// with protobuf.js, and one WebSocket per call through the bridge
// (src/console/bridge.rs), which hands it to the same gRPC services every client uses.

const protobuf = globalThis.protobuf;
const FILES = ["common", "desk", "admin", "gateway", "bots", "outbound"];

/** gRPC status code names, by number. */
export const CODES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
  "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** A call that ended with a status other than OK. */
export class GrpcError extends Error {
  constructor(status) {
    super(`${CODES[status.code] ?? status.code}: ${status.message}`);
    this.code = status.code;
    this.status = status;
  }
}

/** "CODE: message" for a status. */
export function describeStatus(status) {
  return `${CODES[status.code] ?? status.code}${status.message ? ": " + status.message : ""}`;
}

let contract;

/** The parsed contract (loaded once). */
export function loadContract() {
  contract ??= (async () => {
    if (!protobuf) throw new Error("protobuf.js did not load");
    const root = new protobuf.Root();
    for (const file of FILES) {
      const response = await fetch(`/console/proto/switchboard/v1/${file}.proto`);
      if (!response.ok) throw new Error(`${file}.proto: HTTP ${response.status}`);
      protobuf.parse(await response.text(), root);
    }
    root.resolveAll();
    return root;
  })();
  return contract;
}

const TOKEN = "switchboard.token";
const TENANT = "switchboard.tenant";

/** The connection settings: the token lives for this tab only, the tenant is kept. */
export const settings = {
  get token() { return sessionStorage.getItem(TOKEN) ?? ""; },
  set token(value) { value ? sessionStorage.setItem(TOKEN, value) : sessionStorage.removeItem(TOKEN); },
  get tenant() { return localStorage.getItem(TENANT) ?? ""; },
  set tenant(value) { value ? localStorage.setItem(TENANT, value) : localStorage.removeItem(TENANT); },
};

/** The call metadata the settings give: a bearer token and a tenant, when set. */
function metadata() {
  const md = {};
  const token = settings.token.trim();
  if (token) md.authorization = /^bearer /i.test(token) ? token : `Bearer ${token}`;
  if (settings.tenant.trim()) md["x-switchboard-tenant"] = settings.tenant.trim();
  return md;
}

const AS_OBJECT = { enums: String, longs: Number, defaults: true, oneofs: true, arrays: true };

function typesOf(root, path) {
  const [, service, name] = path.split("/");
  const method = root.lookupService(service)?.methods[name];
  if (!method) throw new Error(`${path}: not in the contract`);
  return { request: method.resolvedRequestType, response: method.resolvedResponseType };
}

/**
 * Opens a call. `onMessage(object)` gets each response message as a plain object
 * (enums as names, the set oneof member named by its oneof, e.g. `frame: "offer"`);
 * `onEnd(status)` gets the final status once. Resolves to `{send, end, close}`.
 */
export async function openCall(path, { onMessage = () => {}, onEnd = () => {} } = {}) {
  const root = await loadContract();
  const types = typesOf(root, path);
  const url = new URL(`/console/grpc?method=${path}`, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  const pending = [];
  let ended = false;
  const finish = (status) => {
    if (ended) return;
    ended = true;
    onEnd(status);
  };
  const put = (data) => (socket.readyState === WebSocket.OPEN ? socket.send(data) : pending.push(data));
  socket.onopen = () => {
    socket.send(JSON.stringify({ metadata: metadata() }));
    for (const data of pending.splice(0)) socket.send(data);
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") {
      finish(JSON.parse(event.data));
      return;
    }
    const message = types.response.decode(new Uint8Array(event.data));
    onMessage(types.response.toObject(message, AS_OBJECT));
  };
  socket.onclose = () => finish({ code: 14, message: "the console connection closed", metadata: {} });
  return {
    /** Sends one request message, given as a plain object. */
    send(object) {
      // fromObject takes enum names as well as numbers, and throws naming a bad field.
      put(types.request.encode(types.request.fromObject(object)).finish());
    },
    /** Ends the request stream (a half-close); responses still arrive. */
    end() { put(JSON.stringify({ end: true })); },
    /** Abandons the call: the service sees its request stream break, as when the
     * connection drops (a desk is held for its return, not signed out). */
    close() { socket.close(); },
  };
}

/** A unary call: resolves to the response object, rejects with a GrpcError. */
export function unary(path, request = {}) {
  return new Promise((resolve, reject) => {
    let response;
    openCall(path, {
      onMessage: (message) => { response = message; },
      onEnd: (status) => (status.code === 0 ? resolve(response) : reject(new GrpcError(status))),
    }).then((call) => { call.send(request); call.end(); }, reject);
  });
}
