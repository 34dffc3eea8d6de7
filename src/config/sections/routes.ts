import { claimNameProblem } from '../../policy/claim-path.js'
import { choice, custom, describe, flag, isObj, list, optionalSection, strings, text, url, section, type Checker } from '../fields.js'
import type { AcceptBearerConfig, AllowConfig, AuthMode, BearerMode, RouteConfig, UnauthenticatedMode, UpstreamTokenConfig } from '../types.js'
import { checkPathPattern, UnsafePattern } from '../../routing/regex-safety.js'

const AUTH_MODES: readonly AuthMode[] = ['required', 'optional', 'public']
const UNAUTH_MODES: readonly UnauthenticatedMode[] = ['auto', 'redirect', 'deny']
const BEARER_MODES: readonly BearerMode[] = ['access_token', 'id_token', 'none']
/** Headers a route may not claim as identity headers: the proxy or HTTP itself owns them. */
export const RESERVED_HEADERS = new Set(['host', 'cookie', 'set-cookie', 'authorization', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'])
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
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
  { description: 'claim name (whole, else a dotted path into nested objects) -> accepted values (string or list)', type: 'object', additionalProperties: { anyOf: [{ type: ['string', 'number', 'boolean'] }, { type: 'array', minItems: 1, items: { type: ['string', 'number', 'boolean'] } }] } },
  (c: Checker, v: unknown, path: string): Record<string, (string | number | boolean)[]> | undefined => {
    if (v === undefined || v === null) return undefined
    if (!isObj(v)) { c.add(path, `expected a map of claim -> list of values, got ${describe(v)}`); return undefined }
    const out: Record<string, (string | number | boolean)[]> = {}
    for (const [k, x] of Object.entries(v)) {
      const values = Array.isArray(x) ? x : [x]
      const ok = values.every((y) => typeof y === 'string' || typeof y === 'number' || typeof y === 'boolean')
      const problem = claimNameProblem(k)
      if (problem !== undefined) c.add(`${path}.${k}`, problem)
      else if (!ok || values.length === 0) c.add(`${path}.${k}`, 'expected a value or a list of values')
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
    description: 'identity headers sent upstream: header name -> claim name (whole, else a dotted path); values that are not plain header text are percent-encoded (default: the four X-Forwarded-* headers)',
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
      else {
        const problem = claimNameProblem(claim)
        if (problem !== undefined) c.add(p, problem)
        else out.push([name, claim])
      }
    }
    return out
  },
)

/** A method is an HTTP token (RFC 9110); methods are case-sensitive and the standard ones upper-case. */
const METHOD = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

function readMethods (methods: readonly string[], c: Checker, path: string): string[] {
  const out: string[] = []
  methods.forEach((m, i) => {
    if (!METHOD.test(m)) c.add(`${path}[${i}]`, `not an HTTP method: ${JSON.stringify(m)}`)
    else if (!out.includes(m.toUpperCase())) out.push(m.toUpperCase())
  })
  if (methods.length === 0) c.add(path, 'must list at least one method (leave it out for any method)')
  return out
}

function readPathRegex (pattern: string | undefined, raw: Record<string, unknown>, c: Checker, path: string): string | undefined {
  if (pattern === undefined) return undefined
  if (raw.path !== undefined && raw.path !== null) { c.add(`${path}.pathRegex`, 'give either path or pathRegex, not both'); return undefined }
  try {
    checkPathPattern(pattern)
  } catch (err) {
    if (!(err instanceof UnsafePattern)) throw err
    c.add(`${path}.pathRegex`, `${err.message}: ${JSON.stringify(pattern)}`)
  }
  // Kept even when refused (the file is invalid then): the duplicate check compares patterns, not the default path.
  return pattern
}

/** A bearer token as header text allows: RFC 6750 b64token (no spaces, quotes or controls). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/** `acceptBearer`: the providers are checked against the providers section afterwards (file.ts). */
const acceptBearer = optionalSection({
  providers: strings({ description: 'providers whose issuer and JWKS verify the token (default: the route\'s provider)' }),
  audiences: strings({ description: 'aud must contain one of these (default: each provider\'s clientId)' }),
  introspect: flag({ def: false, description: 'true: opaque (non-JWT) tokens are checked at the provider\'s RFC 7662 introspection endpoint' }),
}, {
  description: 'API clients: a request with Authorization: Bearer is judged on that token alone (a session cookie beside it is ignored)',
  build (v, c, { path }): Omit<AcceptBearerConfig, 'providers'> & { providers: string[] | undefined } {
    if (v.providers?.length === 0) c.add(`${path}.providers`, 'must list at least one provider (or be left out: the route\'s provider)')
    if (v.audiences?.length === 0) c.add(`${path}.audiences`, 'must list at least one audience (or be left out: the provider\'s clientId)')
    return { providers: v.providers, ...(v.audiences !== undefined ? { audiences: v.audiences } : {}), introspect: v.introspect }
  },
})

const clientCredentials = optionalSection({
  provider: text({ description: 'the provider whose token endpoint issues it (default: the route\'s provider)' }),
  scopes: strings({ description: 'scopes asked for (default: none, the provider\'s default)' }),
}, {
  description: 'the gateway\'s own token from the provider\'s client_credentials grant, renewed before it expires',
  build: (v) => ({ provider: v.provider, scopes: v.scopes ?? [] }),
})

/** `upstreamToken` as read here; a clientCredentials provider is resolved in file.ts. */
export type UpstreamTokenDraft =
  | { readonly kind: 'clientCredentials', readonly provider: string | undefined, readonly scopes: readonly string[] }
  | Extract<UpstreamTokenConfig, { kind: 'static' }>

const upstreamToken = optionalSection({
  clientCredentials,
  token: text({ secret: true, description: 'a static token (give it as tokenFile: read at start and on SIGHUP, never logged)' }),
}, {
  description: 'the token sent upstream as Authorization: Bearer instead of the user\'s: clientCredentials or tokenFile',
  schema: {
    allOf: [
      { anyOf: [{ required: ['clientCredentials'] }, { required: ['token'] }, { required: ['tokenFile'] }] },
      { not: { anyOf: [{ required: ['clientCredentials', 'token'] }, { required: ['clientCredentials', 'tokenFile'] }] } },
    ],
  },
  build (v, c, { path, raw }): UpstreamTokenDraft | undefined {
    const both = v.clientCredentials !== undefined && (v.token !== undefined || raw.tokenFile !== undefined)
    if (both) { c.add(path, 'give either clientCredentials or tokenFile, not both'); return undefined }
    if (v.clientCredentials !== undefined) return { kind: 'clientCredentials', ...v.clientCredentials }
    if (v.token !== undefined) {
      const token = v.token.trim()
      if (!B64TOKEN.test(token)) { c.add(`${path}.${raw.tokenFile !== undefined ? 'tokenFile' : 'token'}`, 'the token is not valid Bearer token text (RFC 6750: letters, digits and -._~+/ then =)'); return undefined }
      return { kind: 'static', token }
    }
    if (raw.tokenFile === undefined) c.add(path, 'give clientCredentials or tokenFile')
    return undefined
  },
})

/** A route as this section reads it; the provider is resolved against the providers section afterwards. */
export interface RouteDraft extends Omit<RouteConfig, 'provider' | 'acceptBearer' | 'upstreamToken'> {
  /** As written; undefined means the first provider. */
  readonly provider: string | undefined
  readonly acceptBearer?: Omit<AcceptBearerConfig, 'providers'> & { readonly providers: readonly string[] | undefined }
  readonly upstreamToken?: UpstreamTokenDraft
  /** `bearer` was written (not the default). */
  readonly bearerGiven: boolean
}

export const route = section({
  name: text({ pattern: { re: /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, message: (s) => `use a letter, then up to 63 letters, digits, ".", "_" or "-", got ${JSON.stringify(s)}` }, description: 'a label for metrics and logs (default: the route\'s index)' }),
  path: text({ def: '/', description: 'path prefix, matched on whole segments (/app matches /app/x, not /apple)' }),
  pathRegex: text({ description: 'instead of path: a regular expression matched on the whole normalised path (anchored); patterns that could backtrack catastrophically are refused' }),
  methods: strings({ description: 'the HTTP methods this route matches (any when absent), e.g. [GET, HEAD]' }),
  allowPreflight: flag({ def: false, description: 'true: a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) is forwarded without auth' }),
  host: text({ description: 'host name or *.example.com; any host when absent' }),
  upstream: url({ required: true, description: 'http(s)://host:port[/base]; a base path is prepended' }),
  provider: text({ description: 'a provider id (default: the first provider)' }),
  providers: strings({ description: 'several provider ids: a session from any of them is accepted; an unauthenticated browser chooses (default: provider alone logs in, a session from any provider is accepted)' }),
  auth: choice(AUTH_MODES, { def: 'required', description: 'required | optional (identity when signed in) | public (no session)' }),
  unauthenticated: choice(UNAUTH_MODES, { def: 'auto', description: 'auto (browser: login, API: 401) | redirect | deny' }),
  allow,
  bearer: choice(BEARER_MODES, { def: 'access_token', description: 'the token sent upstream as Authorization: Bearer' }),
  headers,
  stripPrefix: flag({ def: false, description: 'true: /app/x is forwarded as /x' }),
  acceptBearer,
  upstreamToken,
  assertion: flag({ def: false, description: 'send the signed identity assertion (see the top-level assertion section) upstream' }),
  websocket: flag({ def: true, description: 'WebSocket upgrades: authenticated like any request, then tunnelled; false: refused with 403' }),
}, {
  description: 'a route: first match wins, most specific host and path first',
  build (v, c, { path, raw, index }): RouteDraft {
    const prefix = v.path
    const pathRegex = readPathRegex(v.pathRegex, raw, c, path)
    if (v.stripPrefix && v.pathRegex !== undefined) c.add(`${path}.stripPrefix`, 'has no prefix to strip on a pathRegex route')
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
      ...(pathRegex !== undefined ? { pathRegex } : {}),
      ...(v.methods !== undefined ? { methods: readMethods(v.methods, c, `${path}.methods`) } : {}),
      allowPreflight: v.allowPreflight,
      ...(host !== undefined ? { host } : {}),
      upstream: upstreamNorm,
      provider: v.provider,
      ...(v.providers !== undefined ? { providers: v.providers } : {}),
      auth: v.auth,
      unauthenticated: v.unauthenticated,
      ...(v.allow !== undefined ? { allow: v.allow } : {}),
      bearer: v.bearer,
      bearerGiven: raw.bearer !== undefined,
      headers: v.headers,
      stripPrefix: v.stripPrefix,
      ...(v.acceptBearer !== undefined ? { acceptBearer: v.acceptBearer } : {}),
      ...(v.upstreamToken !== undefined ? { upstreamToken: v.upstreamToken } : {}),
      assertion: v.assertion,
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
    const seen = new Map<string, { index: number, methods: readonly string[] | undefined }[]>()
    const named = new Map<string, number>()
    for (const [i, r] of items) {
      if (r.name !== undefined) {
        const had = named.get(r.name)
        if (had !== undefined) c.add(`${path}[${i}].name`, `duplicate name ${JSON.stringify(r.name)} (${path}[${had}] has it)`)
        else named.set(r.name, i)
      }
      // Routes that differ by method share a path: only one that the first
      // already covers for all its methods is never used.
      const key = `${r.host ?? ''} ${r.pathRegex !== undefined ? `~${r.pathRegex}` : r.path}`
      const earlier = seen.get(key) ?? []
      const first = earlier.find((e) => e.methods === undefined || (r.methods !== undefined && r.methods.every((m) => e.methods!.includes(m))))
      if (first !== undefined) c.add(`${path}[${i}]`, `same host and path as ${path}[${first.index}]${r.methods !== undefined ? ' for these methods' : ''}; the first wins, so this route is never used`)
      seen.set(key, [...earlier, { index: i, methods: r.methods }])
    }
  },
})
