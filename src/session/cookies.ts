/**
 * Gatehouse's cookies: names, chunking, and separating them from the
 * application's cookies. Pure string work, run once per request on the hot path.
 *
 * - Session: `<prefix><name>` when it fits, else chunks `<prefix><name>.1`,
 *   `.2`, ... (each value <= CHUNK_SIZE so every Set-Cookie stays under the
 *   4 KiB per-cookie limit of browsers). Prefix `__Host-` with an https
 *   publicUrl and no cookie domain: Secure, Path=/, no Domain, so a sibling
 *   subdomain cannot plant or overwrite it. With a cookie domain the cookie
 *   must carry Domain, which `__Host-` forbids: then `__Secure-` (browsers
 *   accept it only with Secure, from an https origin).
 * - Login state: `<loginPrefix><name>.login.<id>`, one per pending login,
 *   removed from every request before it is forwarded.
 */
import { SessionTooLargeError } from '../errors.js'

export const CHUNK_SIZE = 3800
export const MAX_CHUNKS = 16

export interface CookieOptions {
  path?: string
  domain?: string
  maxAge?: number
  httpOnly?: boolean
  secure?: boolean
  sameSite?: 'lax' | 'strict' | 'none'
}

export type SerializeCookie = (name: string, value: string, options: CookieOptions) => string

export interface CookieNames {
  /** Full session cookie name, with prefix (e.g. `__Host-gatehouse`). */
  readonly session: string
  /** Prefix of login-state cookie names, e.g. `__Secure-gatehouse.login.` */
  readonly login: string
  /** The configured base name, without any prefix. */
  readonly base: string
  /** The browser-binding cookie of handoffs, on hosts outside the cookie domain (`<prefix><name>.handoff`). */
  readonly handoff: string
}

export function cookieNames (base: string, secure: boolean, domain: string | undefined): CookieNames {
  return Object.freeze({
    session: (secure ? domain === undefined ? '__Host-' : '__Secure-' : '') + base,
    login: (secure ? '__Secure-' : '') + base + '.login.',
    base,
    handoff: (secure ? '__Secure-' : '') + base + '.handoff',
  })
}

/** Whether a cookie with Domain=`domain` reaches `host` (lower-case, no port): the domain itself or a subdomain. */
export function domainCovers (domain: string | undefined, host: string): boolean {
  if (domain === undefined) return false
  const d = domain.charCodeAt(0) === 46 /* . */ ? domain.slice(1).toLowerCase() : domain.toLowerCase()
  return host === d || host.endsWith('.' + d)
}

/** True for any cookie name Gatehouse owns (with or without a prefix). */
export function isGatehouseCookie (names: CookieNames, name: string): boolean {
  let n = name
  if (n.startsWith('__Host-')) n = n.slice(7)
  else if (n.startsWith('__Secure-')) n = n.slice(9)
  return n.startsWith(names.base) && (n.length === names.base.length || n.charCodeAt(names.base.length) === 46 /* . */)
}

export interface SplitCookies {
  /** Gatehouse's cookies, by name (undefined when there are none). */
  readonly ours: Map<string, string> | undefined
  /** The Cookie header for the upstream, without Gatehouse's cookies ('' when none left). */
  readonly rest: string
}

/**
 * Splits a Cookie header into Gatehouse's cookies and everything else, in one
 * pass. The application's cookies are passed through byte for byte.
 */
export function splitCookieHeader (names: CookieNames, header: string | undefined): SplitCookies {
  if (header === undefined || header === '') return { ours: undefined, rest: '' }
  let ours: Map<string, string> | undefined
  let rest = ''
  let start = 0
  const len = header.length
  while (start < len) {
    let end = header.indexOf(';', start)
    if (end === -1) end = len
    let s = start
    while (s < end && header.charCodeAt(s) === 32) s++
    const pair = header.slice(s, end)
    start = end + 1
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq).trimEnd()
    if (isGatehouseCookie(names, name)) {
      ours ??= new Map()
      // The first occurrence wins, as browsers send the most specific path first.
      if (!ours.has(name)) ours.set(name, eq === -1 ? '' : pair.slice(eq + 1).trim())
    } else {
      rest = rest === '' ? pair : rest + '; ' + pair
    }
  }
  return { ours, rest }
}

/** Reassembles the sealed session value from the cookie or its chunks. */
export function readSessionValue (names: CookieNames, ours: Map<string, string> | undefined): string | undefined {
  if (ours === undefined) return undefined
  const whole = ours.get(names.session)
  if (whole !== undefined && whole !== '') return whole
  let value = ''
  for (let i = 1; i <= MAX_CHUNKS; i++) {
    const part = ours.get(`${names.session}.${i}`)
    if (part === undefined) break
    value += part
  }
  return value === '' ? undefined : value
}

/** Names of the session cookie and chunks present in the request. */
export function presentSessionCookies (names: CookieNames, ours: Map<string, string> | undefined): string[] {
  if (ours === undefined) return []
  const out: string[] = []
  for (const name of ours.keys()) {
    if (name === names.session || (name.startsWith(names.session + '.') && /^\d+$/.test(name.slice(names.session.length + 1)))) out.push(name)
  }
  return out
}

/**
 * Set-Cookie values that store `sealed` as the session: one cookie or chunks,
 * plus deletions of whatever the browser holds that the new value no longer
 * uses (a shrinking session must not leave stale chunks behind).
 */
export function sessionSetCookies (names: CookieNames, sealed: string, opts: CookieOptions, present: readonly string[], serialize: SerializeCookie): string[] {
  const out: string[] = []
  const used = new Set<string>()
  if (sealed.length <= CHUNK_SIZE) {
    out.push(serialize(names.session, sealed, opts))
    used.add(names.session)
  } else {
    const count = Math.ceil(sealed.length / CHUNK_SIZE)
    if (count > MAX_CHUNKS) throw new SessionTooLargeError(`session too large for ${MAX_CHUNKS} cookie chunks (${sealed.length} bytes)`)
    for (let i = 0; i < count; i++) {
      const name = `${names.session}.${i + 1}`
      out.push(serialize(name, sealed.slice(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE), opts))
      used.add(name)
    }
  }
  for (const name of present) if (!used.has(name)) out.push(serialize(name, '', { ...opts, maxAge: 0 }))
  return out
}

/** Set-Cookie values deleting the given cookies. */
export function clearCookies (names: readonly string[], opts: CookieOptions, serialize: SerializeCookie): string[] {
  return names.map((n) => serialize(n, '', { ...opts, maxAge: 0 }))
}
