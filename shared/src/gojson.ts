/**
 * JSON text as Go's encoding/json writes it, so our frames are byte-identical
 * to the Go host's: `<`, `>`, `&`, U+2028 and U+2029 escaped as \u003c …, and
 * ill-formed UTF-16 (lone surrogates) replaced by U+FFFD, as Go replaces invalid
 * UTF-8. U+FFFD itself is written as the escape `\ufffd`, which is what Go writes
 * for each invalid byte of program output, so our frames for such output match the
 * Go agent's byte for byte. Key order is the caller's (insertion order).
 */
const GO_ESCAPED = /[<>&\u2028\u2029\ufffd]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeChar(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

function wellFormed(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? value.replace(LONE_SURROGATE, '\ufffd') : value;
}

/**
 * JSON string literal of `text` as Go writes it, for text that is already
 * well-formed (e.g. decoded from UTF-8 bytes, which never yields lone surrogates).
 * The fast path of log lines: no replacer, and a regex replace only when needed.
 */
export function goQuote(text: string): string {
  const quoted = JSON.stringify(text);
  GO_ESCAPED.lastIndex = 0;
  return GO_ESCAPED.test(quoted) ? quoted.replace(GO_ESCAPED, escapeChar) : quoted;
}

export function goJSONStringify(value: unknown): string {
  // The escaped characters can only occur inside JSON strings, so a global replace is safe.
  return JSON.stringify(value, wellFormed).replace(GO_ESCAPED, escapeChar);
}
