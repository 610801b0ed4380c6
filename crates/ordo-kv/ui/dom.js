// A few DOM helpers: elements are built with text nodes only, never from
// HTML strings, so no key or value can become markup.

/** The element with id `id` (which the page must have). */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

/** A new element with attributes (`data-*` included) and children. */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'className') element.className = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    element.append(child instanceof Node ? child : document.createTextNode(String(child ?? '')));
  }
  return element;
}

/** Replaces every child of `element`. */
export function replaceChildren(element, children) {
  element.replaceChildren(...children);
}

/** A number for people: `–` when absent. */
export function show(value) {
  return value === undefined || value === null ? '–' : String(value);
}

/** Milliseconds with sensible precision; `–` when unknown. */
export function millis(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const ms = seconds * 1000;
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}
