// Showing a value: as text when it is UTF-8, pretty JSON when it parses,
// hex (with an ASCII column) otherwise or when asked.

const MAX_HEX_BYTES = 64 * 1024;

/** `bytes` (a Uint8Array) as `format`: auto, text, json or hex. */
export function formatValue(bytes, format) {
  const text = utf8(bytes);
  if (format === 'hex' || (format !== 'text' && text === null)) return hex(bytes);
  if (format === 'text') return text ?? new TextDecoder().decode(bytes);
  const pretty = prettyJson(text);
  if (format === 'json') return pretty ?? `(not JSON)\n${text}`;
  return pretty ?? text;
}

/** The bytes of a list item's value (`encoding: base64` for binary ones). */
export function itemBytes(value, encoding) {
  if (encoding === 'base64') {
    const raw = atob(value);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  return new TextEncoder().encode(value);
}

function utf8(bytes) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (_) {
    return null;
  }
}

function prettyJson(text) {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return null;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch (_) {
    return null;
  }
}

/** Classic hex dump: offset, 16 bytes, their printable characters. */
export function hex(bytes) {
  const shown = bytes.subarray(0, MAX_HEX_BYTES);
  const lines = [];
  for (let offset = 0; offset < shown.length; offset += 16) {
    const row = shown.subarray(offset, offset + 16);
    const hexes = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hexes.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > shown.length) lines.push(`… ${bytes.length - shown.length} more bytes`);
  return lines.join('\n');
}
