const BASE = 'http://gatehouse.invalid'
const MAX_LENGTH = 2048

// Raw input: controls, any whitespace, and backslash (browsers read '\' as '/').
const BAD_RAW = /[\u0000-\u0020\u007f-\u009f\\\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/
// Decoded input: controls and backslash anywhere.
const BAD_DECODED = /[\u0000-\u001f\u007f-\u009f\\]/
const WHITESPACE = /[\s\u200b\ufeff]/g

function decodeFully (s: string): string | undefined {
  let cur = s
  for (let i = 0; i < 4; i++) {
    let next: string
    try { next = decodeURIComponent(cur) } catch { return undefined }
    if (next === cur) return cur
    cur = next
  }
  return undefined // still changing after 4 rounds: nobody needs that in a return path
}

/**
 * Returns `rd` when it is a same-origin relative path, else `/`.
 *
 * Accepts only `/path?query#fragment`. Refuses anything a browser could
 * resolve to another origin: scheme-relative `//host`, `/\host`, `///host`,
 * absolute or scheme-only URLs (`https:`, `http:/`, `javascript:`), and the
 * same tricks hidden behind percent-encoding (`/%2F%2Fhost`), control
 * characters or whitespace (`/%09/host`). The result is normalised by the
 * WHATWG URL parser and must still be on our own origin.
 */
export function safeReturnTo (rd: unknown, fallback = '/'): string {
  if (typeof rd !== 'string' || rd.length === 0 || rd.length > MAX_LENGTH) return fallback
  if (rd.charCodeAt(0) !== 47 /* / */ || BAD_RAW.test(rd)) return fallback
  if (rd.charCodeAt(1) === 47) return fallback
  const decoded = decodeFully(rd)
  if (decoded === undefined || BAD_DECODED.test(decoded)) return fallback
  const squeezed = decoded.replace(WHITESPACE, '')
  if (squeezed.startsWith('//')) return fallback
  let u: URL
  try { u = new URL(rd, BASE) } catch { return fallback }
  if (u.origin !== BASE) return fallback
  const out = u.pathname + u.search + u.hash
  return out.startsWith('//') ? fallback : out
}
