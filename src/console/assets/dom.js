// Small DOM helpers shared by the console's views.

/** An element: `h("p", {class: "x", onclick: f}, "text", child)`. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** "12 s", "3 min 5 s", "1 h 2 min" for milliseconds. */
export function duration(ms) {
  const s = Math.round((ms ?? 0) / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** An enum name without its prefix, lower case: ("CHANNEL_WEB", "CHANNEL_") -> "web". */
export function label(name, prefix) {
  return String(name ?? "").replace(prefix, "").replaceAll("_", " ").toLowerCase();
}

/** A short random id. */
export function randomId() {
  return Math.random().toString(36).slice(2, 10);
}
