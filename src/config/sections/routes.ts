import { choice, custom, describe, flag, isObj, list, optionalSection, strings, text, url, section, type Checker } from '../fields.js'
import type { AllowConfig, AuthMode, BearerMode, RouteConfig, UnauthenticatedMode } from '../types.js'

const AUTH_MODES: readonly AuthMode[] = ['required', 'optional', 'public']
const UNAUTH_MODES: readonly UnauthenticatedMode[] = ['auto', 'redirect', 'deny']
const BEARER_MODES: readonly BearerMode[] = ['access_token', 'id_token', 'none']
/** Headers a route may not claim as identity headers: the proxy or HTTP itself owns them. */
const RESERVED_HEADERS = new Set(['host', 'cookie', 'set-cookie', 'authorization', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'])
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/

export const DEFAULT_HEADERS: readonly (readonly [string, string])[] = Object.freeze([
  ['X-Forwarded-User', 'sub'],
  ['X-Forwarded-Email', 'email'],
  ['X-Forwarded-Groups', 'groups'],
  ['X-Forwarded-Preferred-Username', 'preferred_username'],
] as const)

/** Normalises a route path prefix: '/app/' and '/app' are the same prefix. */
export function normalisePrefix (p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') || '/' : p
}

const claims = custom(
  { description: 'claim -> accepted values (string or list)', type: 'object', additionalProperties: { anyOf: [{ type: ['string', 'number', 'boolean'] }, { type: 'array', minItems: 1, items: { type: ['string', 'number', 'boolean'] } }] } },
  (c: Checker, v: unknown, path: string): Record<string, (string | number | boolean)[]> | undefined => {
    if (v === undefined || v === null) return undefined
    if (!isObj(v)) { c.add(path, `expected a map of claim -> list of values, got ${describe(v)}`); return undefined }
    const out: Record<string, (string | number | boolean)[]> = {}
    for (const [k, x] of Object.entries(v)) {
      const values = Array.isArray(x) ? x : [x]
      const ok = values.every((y) => typeof y === 'string' || typeof y === 'number' || typeof y === 'boolean')
      if (!ok || values.length === 0) c.add(`${path}.${k}`, 'expected a value or a list of values')
      else out[k] = values as (string | number | boolean)[]
    }
    return out
  },
)

const allow = optionalSection({
  emails: strings({ description: 'exact addresses, case-insensitive' }),
  domains: strings({ description: 'the part after @, exact (example.com does not admit sub.example.com)' }),
  groups: strings({ description: 'matched against the provider\'s groupsClaim' }),
  claims,
}, {
  description: 'policy: every listed kind must pass; any value within a kind passes',
  build (v, c, { path }): AllowConfig {
    v.emails?.forEach((e, i) => { if (e.split('@').length !== 2 || e.startsWith('@') || e.endsWith('@')) c.add(`${path}.emails[${i}]`, `not an email address: ${JSON.stringify(e)}`) })
    v.domains?.forEach((d, i) => { if (d.includes('@') || !/^[A-Za-z0-9.-]+$/.test(d)) c.add(`${path}.domains[${i}]`, `not a domain: ${JSON.stringify(d)} (write example.com, without @)`) })
    return {
      ...(v.emails !== undefined ? { emails: v.emails } : {}),
      ...(v.domains !== undefined ? { domains: v.domains } : {}),
      ...(v.groups !== undefined ? { groups: v.groups } : {}),
      ...(v.claims !== undefined ? { claims: v.claims } : {}),
    }
  },
})

const headers = custom(
  {
    description: 'identity headers sent upstream: header name -> claim name (default: the four X-Forwarded-* headers)',
    type: 'object',
    propertyNames: { pattern: HEADER_NAME.source },
    additionalProperties: { type: 'string', minLength: 1 },
  },
  (c: Checker, v: unknown, path: string): (readonly [string, string])[] => {
    if (v === undefined || v === null) return [...DEFAULT_HEADERS]
    if (!isObj(v)) { c.add(path, `expected a map of header name -> claim name, got ${describe(v)}`); return [...DEFAULT_HEADERS] }
    const out: (readonly [string, string])[] = []
    for (const [name, claim] of Object.entries(v)) {
      const p = `${path}.${name}`
      if (!HEADER_NAME.test(name)) c.add(p, 'not a valid HTTP header name')
      else if (RESERVED_HEADERS.has(name.toLowerCase().replaceAll('_', '-'))) c.add(p, 'this header is managed by the proxy and cannot carry a claim')
      else if (typeof claim !== 'string' || claim === '') c.add(p, `expected a claim name, got ${describe(claim)}`)
      else out.push([name, claim])
    }
    return out
  },
)

/** A route as this section reads it; the provider is resolved against the providers section afterwards. */
export interface RouteDraft extends Omit<RouteConfig, 'provider'> {
  /** As written; undefined means the first provider. */
  readonly provider: string | undefined
  /** `bearer` was written (not the default). */
  readonly bearerGiven: boolean
}

export const route = section({
  name: text({ pattern: { re: /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, message: (s) => `use a letter, then up to 63 letters, digits, ".", "_" or "-", got ${JSON.stringify(s)}` }, description: 'a label for metrics and logs (default: the route\'s index)' }),
  path: text({ def: '/', description: 'path prefix, matched on whole segments (/app matches /app/x, not /apple)' }),
  host: text({ description: 'host name or *.example.com; any host when absent' }),
  upstream: url({ required: true, description: 'http(s)://host:port[/base]; a base path is prepended' }),
  provider: text({ description: 'a provider id (default: the first provider)' }),
  auth: choice(AUTH_MODES, { def: 'required', description: 'required | optional (identity when signed in) | public (no session)' }),
  unauthenticated: choice(UNAUTH_MODES, { def: 'auto', description: 'auto (browser: login, API: 401) | redirect | deny' }),
  allow,
  bearer: choice(BEARER_MODES, { def: 'access_token', description: 'the token sent upstream as Authorization: Bearer' }),
  headers,
  stripPrefix: flag({ def: false, description: 'true: /app/x is forwarded as /x' }),
  websocket: flag({ def: true, description: 'WebSocket upgrades: authenticated like any request, then tunnelled; false: refused with 403' }),
}, {
  description: 'a route: first match wins, most specific host and path first',
  build (v, c, { path, raw, index }): RouteDraft {
    const prefix = v.path
    if (!prefix.startsWith('/')) c.add(`${path}.path`, `must start with "/", got ${JSON.stringify(prefix)}`)
    else if (/[?#\s]/.test(prefix) || /(^|\/)\.\.?(\/|$)/.test(prefix)) c.add(`${path}.path`, `must be a plain path prefix (no query, fragment, spaces or dot segments), got ${JSON.stringify(prefix)}`)
    let host = v.host?.toLowerCase()
    if (host !== undefined && !HOST.test(host)) {
      c.add(`${path}.host`, `not a host name: ${JSON.stringify(host)} (a wildcard is written *.example.com)`)
      host = undefined
    }
    const upstream = v.upstream?.url
    if (upstream !== undefined && (upstream.search !== '' || upstream.hash !== '')) c.add(`${path}.upstream`, 'must not have a query or fragment')
    // Keep a base path without a trailing slash so base + '/x' joins cleanly.
    const upstreamNorm = upstream === undefined ? '' : upstream.origin + (upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/+$/, ''))
    return {
      index,
      ...(v.name !== undefined ? { name: v.name } : {}),
      path: normalisePrefix(prefix),
      ...(host !== undefined ? { host } : {}),
      upstream: upstreamNorm,
      provider: v.provider,
      auth: v.auth,
      unauthenticated: v.unauthenticated,
      ...(v.allow !== undefined ? { allow: v.allow } : {}),
      bearer: v.bearer,
      bearerGiven: raw.bearer !== undefined,
      headers: v.headers,
      stripPrefix: v.stripPrefix,
      websocket: v.websocket,
    }
  },
})

export const routes = list(route, {
  description: 'routes: first match wins, most specific host+path first',
  required: 'is required (at least one route)',
  empty: 'must list at least one route',
  check (items, c, path) {
    // Two routes with the same host and prefix: matching picks the first, so
    // the second can never serve a request — almost always a copy-paste slip.
    const seen = new Map<string, number>()
    const named = new Map<string, number>()
    for (const [i, r] of items) {
      if (r.name !== undefined) {
        const had = named.get(r.name)
        if (had !== undefined) c.add(`${path}[${i}].name`, `duplicate name ${JSON.stringify(r.name)} (${path}[${had}] has it)`)
        else named.set(r.name, i)
      }
      const key = `${r.host ?? ''} ${r.path}`
      const first = seen.get(key)
      if (first === undefined) seen.set(key, i)
      else c.add(`${path}[${i}]`, `same host and path as ${path}[${first}]; the first wins, so this route is never used`)
    }
  },
})
