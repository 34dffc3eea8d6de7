import { claimAccessor, type ClaimAccessor } from '../policy/claim-path.js'
import type { Claims } from '../policy/evaluate.js'

/**
 * Headers sent upstream: strip, then inject. Pure; the lists are compiled at
 * config load, so the per-request work is one pass over the incoming headers.
 */

/** Hop-by-hop headers (RFC 9110 7.6.1) and ones the proxy always sets itself. */
const HOP_BY_HOP = new Set(['expect', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate'])

/** `X_Forwarded_User` and `x-forwarded-user` are the same header to many backends (CGI, PHP, WSGI). */
export function normaliseHeaderName (name: string): string {
  const lower = name.toLowerCase()
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower
}

export interface IdentityHeader {
  readonly name: string
  readonly claim: string
  /** Reads the claim (whole name, then dotted path), compiled at load. */
  readonly get: ClaimAccessor
}

/** Compiles a route's `headers` (header name -> claim name) once, at config load. */
export function compileIdentityHeaders (headers: readonly (readonly [string, string])[]): readonly IdentityHeader[] {
  return Object.freeze(headers.map(([name, claim]) => Object.freeze({ name, claim, get: claimAccessor(claim) })))
}

export interface HeaderPlan {
  /** Normalised names removed from every incoming request (identity headers of all routes). */
  readonly strip: ReadonlySet<string>
  /** Remove incoming Authorization (the route sets its own Bearer). */
  readonly stripAuthorization: boolean
  readonly identity: readonly IdentityHeader[]
}

/** Builds the strip set once from every route's identity headers. */
export function buildStripSet (allHeaderNames: Iterable<string>): ReadonlySet<string> {
  const s = new Set<string>()
  for (const n of allHeaderNames) s.add(normaliseHeaderName(n))
  return s
}

// Visible ASCII, space and tab, but not '%': what may go into a header value
// unchanged. '%' is left out so that an encoded value and a plain one can
// never be confused: every identity header value percent-decodes to the claim.
const SAFE_VALUE = /^[\u0020-\u0024\u0026-\u007e\t]*$/
// A UTF-16 surrogate without its pair: not a character, and encodeURIComponent throws on it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * Turns a claim into header text. Arrays are joined with ','; objects become
 * JSON. A value that is not plain header text (non-ASCII, '%', CR/LF, NUL and
 * other controls) is percent-encoded as UTF-8 as a whole (like
 * encodeURIComponent, the encoding of RFC 8187 without its charset prefix),
 * so `Zoë` arrives as `Zo%C3%AB` and a CR/LF can never split a header. An
 * upstream may therefore always percent-decode a value: a plain one has no
 * '%' and decodes to itself. A lone surrogate (not a character) becomes
 * U+FFFD. Long values are passed whole, never cut: a cut email or group
 * would name something else.
 */
export function claimToHeaderValue (value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  let text: string
  if (typeof value === 'string') text = value
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value)
  else if (Array.isArray(value)) text = value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(',')
  else text = JSON.stringify(value)
  return SAFE_VALUE.test(text) ? text : encodeURIComponent(text.replace(LONE_SURROGATE, '\uFFFD'))
}

/**
 * Identity headers already built, per claims object and route plan. Frozen
 * claims (those of a session read from the parsed-cookie cache) cannot
 * change, so their headers are built once, not on every request; the entries
 * go away with the claims object.
 */
const builtIdentity = new WeakMap<Claims, WeakMap<HeaderPlan, readonly (readonly [string, string])[]>>()

/** Identity header name/value pairs for a user's claims under one route's plan. */
export function identityHeaders (plan: HeaderPlan, claims: Claims): readonly (readonly [string, string])[] {
  const frozen = Object.isFrozen(claims)
  let byPlan = frozen ? builtIdentity.get(claims) : undefined
  const known = byPlan?.get(plan)
  if (known !== undefined) return known
  const out: [string, string][] = []
  for (const h of plan.identity) {
    const v = claimToHeaderValue(h.get(claims))
    if (v !== undefined) out.push([h.name, v])
  }
  if (frozen) {
    if (byPlan === undefined) { byPlan = new WeakMap(); builtIdentity.set(claims, byPlan) }
    byPlan.set(plan, Object.freeze(out))
  }
  return out
}

export interface ForwardContext {
  /** Client address as seen by Gatehouse (the socket peer). */
  readonly remoteAddress: string
  /** Keep the client's X-Forwarded-* (a trusted load balancer is in front). */
  readonly trustProxy: boolean
  /** Scheme and host the client used, for X-Forwarded-Proto/-Host. */
  readonly proto: string
  readonly host: string
  /** The Cookie header without Gatehouse's cookies ('' when none left). */
  readonly cookie: string
  /** Bearer token for the upstream, or undefined. */
  readonly bearer: string | undefined
  readonly identity: readonly (readonly [string, string])[]
}

/**
 * Builds the upstream request headers from the incoming ones (Node's lower-cased
 * object). Order: drop hop-by-hop and connection-listed headers, every
 * configured identity header in any spelling, Gatehouse's cookies, and
 * Authorization when the gateway sets it; then add forwarding headers,
 * Bearer and identity. A spoofed header can never survive: stripping happens
 * on every route, before anything is injected.
 */
export function buildUpstreamHeaders (incoming: Readonly<Record<string, string | string[] | undefined>>, plan: HeaderPlan, ctx: ForwardContext): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const connection = incoming.connection
  const connList = typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close'
    ? new Set(connection.toLowerCase().split(',').map((s) => s.trim()))
    : undefined
  for (const name in incoming) {
    const v = incoming[name]
    if (v === undefined) continue
    if (HOP_BY_HOP.has(name) || name === 'cookie' || name === 'host') continue
    if (connList?.has(name) === true) continue
    const norm = name.includes('_') ? name.replaceAll('_', '-') : name
    if (plan.strip.has(norm)) continue
    if (norm === 'authorization' && (plan.stripAuthorization || ctx.bearer !== undefined)) continue
    if (name.charCodeAt(0) === 120 /* x */ && (norm === 'x-forwarded-for' || norm === 'x-forwarded-proto' || norm === 'x-forwarded-host' || norm === 'x-real-ip') && (!ctx.trustProxy || norm !== name)) continue
    out[name] = v
  }
  if (typeof incoming.host === 'string') out.host = incoming.host
  if (ctx.cookie !== '') out.cookie = ctx.cookie
  const prior = ctx.trustProxy ? incoming['x-forwarded-for'] : undefined
  out['x-forwarded-for'] = prior === undefined ? ctx.remoteAddress : `${Array.isArray(prior) ? prior.join(', ') : prior}, ${ctx.remoteAddress}`
  if (!ctx.trustProxy || out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = ctx.proto
  if (!ctx.trustProxy || out['x-forwarded-host'] === undefined) out['x-forwarded-host'] = ctx.host
  if (ctx.bearer !== undefined) out.authorization = `Bearer ${ctx.bearer}`
  for (const [k, v] of ctx.identity) out[k] = v
  return out
}
