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
 * Where an absolute `rd` may lead: the gateway's scheme and port (those of
 * `publicUrl`: every host is served by the same listener behind the same
 * front), and a host that is the publicUrl host or one a route names.
 * Compiled once per configuration (gateway.ts).
 */
export interface ReturnOrigin {
  /** `https:` or `http:`. */
  readonly protocol: string
  /** The publicUrl's port as the URL parser spells it ('' for the scheme's default). */
  readonly port: string
  /** The publicUrl host, lower-case. */
  readonly publicHost: string
  /** Whether a route names this host (exactly or by a wildcard). */
  readonly routed: (host: string) => boolean
}

/** The ReturnOrigin of a gateway whose publicUrl is `publicUrl` and whose routes name the hosts `routed` accepts. */
export function returnOrigin (publicUrl: string, routed: (host: string) => boolean): ReturnOrigin {
  const u = new URL(publicUrl)
  return Object.freeze({ protocol: u.protocol, port: u.port, publicHost: u.hostname, routed })
}

/** Whether `host` (lower-case, no port) is one an absolute return URL may name. */
export function returnHostAllowed (origin: ReturnOrigin, host: string): boolean {
  return host === origin.publicHost || origin.routed(host)
}

/** `rd` (a path, as safeReturnTo returns it) as an absolute URL on `host`, at the gateway's scheme and port. */
export function absoluteOn (origin: ReturnOrigin, host: string, rd: string): string {
  return `${origin.protocol}//${host}${origin.port !== '' ? ':' + origin.port : ''}${rd}`
}

// An absolute URL as written by people and by absoluteOn(): scheme, exactly two slashes, then the host.
const ABSOLUTE = /^https?:\/\/[^/\\]/i
// A host label spelled oddly: empty labels, a leading or trailing dot (`b.example.com.` is another cookie origin).
const ODD_HOST = /^\.|\.\.|\.$/

/**
 * An absolute return URL on a host the gateway serves, normalised; undefined
 * for anything else. The same raw and decoded character rules as paths;
 * then the WHATWG parser (the one browsers use) decides the host, which must
 * be allowed as parsed: userinfo (`https://a@evil`), another scheme or port,
 * odd dots and hosts no route names are refused.
 */
function absoluteReturnTo (rd: string, origin: ReturnOrigin): string | undefined {
  if (BAD_RAW.test(rd)) return undefined
  const decoded = decodeFully(rd)
  if (decoded === undefined || BAD_DECODED.test(decoded)) return undefined
  // No userinfo, however spelled: an '@' before the path is refused outright.
  // A '%' there too: the parser would decode a host the raw checks never saw.
  const rest = rd.slice(rd.indexOf('//') + 2)
  const end = rest.search(/[/?#]/)
  const authority = end === -1 ? rest : rest.slice(0, end)
  if (authority.includes('@') || authority.includes('%')) return undefined
  let u: URL
  try { u = new URL(rd) } catch { return undefined }
  if (u.protocol !== origin.protocol || u.username !== '' || u.password !== '' || u.port !== origin.port) return undefined
  const host = u.hostname
  if (ODD_HOST.test(host) || !returnHostAllowed(origin, host)) return undefined
  return u.href
}

/**
 * Returns `rd` when it is a same-origin relative path, else `/`. With
 * `origin`, an absolute URL on the publicUrl host or on a host a route names
 * (see ReturnOrigin) is kept too, normalised.
 *
 * Accepts only `/path?query#fragment`. Refuses anything a browser could
 * resolve to another origin: scheme-relative `//host`, `/\host`, `///host`,
 * absolute or scheme-only URLs (`https:`, `http:/`, `javascript:`), and the
 * same tricks hidden behind percent-encoding (`/%2F%2Fhost`), control
 * characters or whitespace (`/%09/host`). The result is normalised by the
 * WHATWG URL parser and must still be on our own origin.
 */
export function safeReturnTo (rd: unknown, fallback = '/', origin?: ReturnOrigin): string {
  if (typeof rd !== 'string' || rd.length === 0 || rd.length > MAX_LENGTH) return fallback
  if (origin !== undefined && ABSOLUTE.test(rd)) return absoluteReturnTo(rd, origin) ?? fallback
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
