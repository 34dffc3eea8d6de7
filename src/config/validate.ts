import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { parseDuration } from './duration.js'
import type {
  AllowConfig, AuthMode, BearerMode, Config, ListenAddress, ProviderConfig, ResponseMode, ResponseType,
  RouteConfig, SessionConfig, StoreKind, TokenEndpointAuthMethod, UnauthenticatedMode,
} from './types.js'

/**
 * Validation collects every problem with its path (`routes[2].upstream: ...`)
 * instead of stopping at the first, so an operator fixes a file in one pass.
 */
class Checker {
  readonly problems: string[] = []
  add (path: string, message: string): void { this.problems.push(`${path}: ${message}`) }
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

const RESPONSE_TYPES: readonly ResponseType[] = ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token']
const RESPONSE_MODES: readonly ResponseMode[] = ['query', 'fragment', 'form_post']
const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']
const STORES: readonly StoreKind[] = ['cookie', 'memory', 'redis']
const AUTH_MODES: readonly AuthMode[] = ['required', 'optional', 'public']
const UNAUTH_MODES: readonly UnauthenticatedMode[] = ['auto', 'redirect', 'deny']
const BEARER_MODES: readonly BearerMode[] = ['access_token', 'id_token', 'none']
/** Authorization parameters Gatehouse sets itself; a config may not override them. */
const RESERVED_AUTH_PARAMS = new Set(['client_id', 'redirect_uri', 'response_type', 'response_mode', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method'])
/** Headers a route may not claim as identity headers: the proxy or HTTP itself owns them. */
const RESERVED_HEADERS = new Set(['host', 'cookie', 'set-cookie', 'authorization', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'])
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/
const COOKIE_NAME = /^[A-Za-z0-9_-]+$/

export const DEFAULT_HEADERS: readonly (readonly [string, string])[] = Object.freeze([
  ['X-Forwarded-User', 'sub'],
  ['X-Forwarded-Email', 'email'],
  ['X-Forwarded-Groups', 'groups'],
  ['X-Forwarded-Preferred-Username', 'preferred_username'],
] as const)

function known (c: Checker, obj: Obj, path: string, keys: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) c.add(path === '' ? k : `${path}.${k}`, `unknown field (expected one of: ${keys.join(', ')})`)
  }
}

function str (c: Checker, obj: Obj, key: string, path: string, opts: { required?: boolean, def?: string } = {}): string | undefined {
  const v = obj[key]
  if (v === undefined || v === null || v === '') {
    if (opts.required === true) c.add(path, 'is required')
    return opts.def
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (typeof v !== 'string') { c.add(path, `expected a string, got ${describe(v)}`); return opts.def }
  return v
}

function bool (c: Checker, obj: Obj, key: string, path: string, def: boolean): boolean {
  const v = obj[key]
  if (v === undefined || v === null || v === '') return def
  if (typeof v === 'boolean') return v
  if (v === 'true') return true
  if (v === 'false') return false
  c.add(path, `expected true or false, got ${describe(v)}`)
  return def
}

function int (c: Checker, obj: Obj, key: string, path: string, def: number, min: number, max: number): number {
  const v = obj[key]
  if (v === undefined || v === null || v === '') return def
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    c.add(path, `expected a whole number from ${min} to ${max}, got ${describe(v)}`)
    return def
  }
  return n
}

function oneOf<T extends string> (c: Checker, obj: Obj, key: string, path: string, allowed: readonly T[], def: T): T {
  const v = obj[key]
  if (v === undefined || v === null || v === '') return def
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T
  c.add(path, `expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(v)}`)
  return def
}

function duration (c: Checker, obj: Obj, key: string, path: string, def: number): number {
  const v = obj[key]
  if (v === undefined || v === null || v === '') return def
  const ms = parseDuration(v)
  if (ms === undefined) { c.add(path, `not a duration: ${describe(v)} (use e.g. 90s, 15m, 12h, 7d)`); return def }
  return ms
}

function stringList (c: Checker, v: unknown, path: string): string[] | undefined {
  if (v === undefined || v === null) return undefined
  const arr = typeof v === 'string' ? [v] : v
  if (!Array.isArray(arr)) { c.add(path, `expected a list of strings, got ${describe(v)}`); return undefined }
  const out: string[] = []
  arr.forEach((item, i) => {
    if (typeof item === 'string' && item !== '') out.push(item)
    else if (typeof item === 'number') out.push(String(item))
    else c.add(`${path}[${i}]`, `expected a non-empty string, got ${describe(item)}`)
  })
  return out
}

function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a map'
  return JSON.stringify(v)
}

/** Parses `host:port`, `[::1]:port` or `:port`. */
export function parseListen (value: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim())
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!)
  return { host, port }
}

function listen (c: Checker, obj: Obj, key: string, path: string, def?: string): ListenAddress | undefined {
  const v = str(c, obj, key, path, { required: def === undefined, def })
  if (v === undefined) return undefined
  const parsed = parseListen(v)
  if (parsed === undefined) c.add(path, `expected host:port, got ${JSON.stringify(v)}`)
  return parsed
}

function httpUrl (c: Checker, value: string | undefined, path: string): URL | undefined {
  if (value === undefined) return undefined
  let u: URL
  try { u = new URL(value) } catch { c.add(path, `not a URL: ${JSON.stringify(value)}`); return undefined }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') { c.add(path, `not a URL: ${JSON.stringify(value)} (expected http:// or https://)`); return undefined }
  if (u.username !== '' || u.password !== '') { c.add(path, 'must not contain credentials'); return undefined }
  return u
}

/** Whether a login with this response type ends with an access token (every type but a bare `id_token`). */
export function yieldsAccessToken (responseType: ResponseType): boolean {
  return responseType !== 'id_token'
}

/** Why a private_key_jwt key (PEM or JWK text) cannot sign client assertions, or undefined when it can. */
function privateKeyProblem (text: string): string | undefined {
  const t = text.trim()
  let key: KeyObject
  try {
    key = t.startsWith('{') ? createPrivateKey({ key: JSON.parse(t) as JsonWebKey, format: 'jwk' }) : createPrivateKey(t)
  } catch {
    return 'not a private key (expected PEM, e.g. -----BEGIN PRIVATE KEY-----, or a private JWK as JSON)'
  }
  const type = key.asymmetricKeyType
  if (type !== 'rsa' && type !== 'ec' && type !== 'ed25519') return `a ${String(type)} key cannot sign client assertions (use RSA, EC P-256/P-384/P-521 or Ed25519)`
  const crv = key.asymmetricKeyDetails?.namedCurve
  if (type === 'ec' && crv !== 'prime256v1' && crv !== 'secp384r1' && crv !== 'secp521r1') return `an EC key on curve ${String(crv)} cannot sign client assertions (use P-256, P-384 or P-521)`
  return undefined
}

/** True for hosts that can only be this machine: tests and the demo may use plain http there. */
export function isLoopbackHost (hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '')
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

function validateProvider (c: Checker, raw: unknown, path: string): ProviderConfig | undefined {
  if (!isObj(raw)) { c.add(path, `expected a map, got ${describe(raw)}`); return undefined }
  known(c, raw, path, ['id', 'issuer', 'clientId', 'clientSecret', 'tokenEndpointAuthMethod', 'privateKey', 'privateKeyId', 'responseType', 'responseMode', 'pkce', 'scopes', 'authorizationParams', 'loginUrl', 'fetchUserinfo', 'groupsClaim', 'allowInsecureHttp', 'postLogoutRedirectUri'])
  const id = str(c, raw, 'id', `${path}.id`, { def: 'default' })!
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) c.add(`${path}.id`, 'use letters, digits, ".", "_" or "-"')
  const issuerText = str(c, raw, 'issuer', `${path}.issuer`, { required: true })
  const issuer = httpUrl(c, issuerText, `${path}.issuer`)
  const allowInsecureHttp = bool(c, raw, 'allowInsecureHttp', `${path}.allowInsecureHttp`, false)
  if (issuer !== undefined && issuer.protocol === 'http:' && !isLoopbackHost(issuer.hostname) && !allowInsecureHttp) {
    c.add(`${path}.issuer`, 'must be https:// (http:// is allowed only on loopback, or with allowInsecureHttp: true)')
  }
  const clientId = str(c, raw, 'clientId', `${path}.clientId`, { required: true }) ?? ''
  const clientSecret = str(c, raw, 'clientSecret', `${path}.clientSecret`)
  const privateKey = str(c, raw, 'privateKey', `${path}.privateKey`)
  const responseType = oneOf(c, raw, 'responseType', `${path}.responseType`, RESPONSE_TYPES, 'code')
  const hasCode = responseType.includes('code')
  // Without a code (id_token, "id_token token") the token endpoint is never
  // used: such a client has nothing to authenticate with, and is public.
  const method = oneOf(c, raw, 'tokenEndpointAuthMethod', `${path}.tokenEndpointAuthMethod`, AUTH_METHODS,
    clientSecret === undefined && privateKey !== undefined ? 'private_key_jwt' : clientSecret === undefined && !hasCode ? 'none' : 'client_secret_basic')
  if ((method === 'client_secret_basic' || method === 'client_secret_post') && clientSecret === undefined) {
    // A forgotten secret must not silently turn the client into a public one.
    c.add(`${path}.clientSecret`, `is required with tokenEndpointAuthMethod ${method} (a public client says tokenEndpointAuthMethod: none)`)
  }
  if (method === 'private_key_jwt' && privateKey === undefined) c.add(`${path}.privateKey`, 'is required with tokenEndpointAuthMethod private_key_jwt (or privateKeyFile)')
  if (privateKey !== undefined) {
    const problem = privateKeyProblem(privateKey)
    if (problem !== undefined) c.add(`${path}.privateKey`, problem)
  }
  const responseMode = oneOf(c, raw, 'responseMode', `${path}.responseMode`, RESPONSE_MODES, responseType === 'code' ? 'query' : 'fragment')
  if (responseType !== 'code' && responseMode === 'query') {
    c.add(`${path}.responseMode`, `query cannot carry tokens for responseType ${JSON.stringify(responseType)} (use fragment or form_post)`)
  }
  const pkce = bool(c, raw, 'pkce', `${path}.pkce`, hasCode)
  // PKCE binds the code to this browser's login; without a code there is nothing to bind.
  if (pkce && !hasCode) c.add(`${path}.pkce`, `applies only to response types with a code (responseType is ${JSON.stringify(responseType)})`)
  if (method === 'none' && hasCode && !pkce) c.add(`${path}.pkce`, 'a public client (tokenEndpointAuthMethod none) must use PKCE')
  const scopes = stringList(c, raw.scopes, `${path}.scopes`) ?? ['openid', 'email', 'profile']
  if (!scopes.includes('openid')) c.add(`${path}.scopes`, 'must include "openid"')
  for (const [i, s] of scopes.entries()) if (/\s/.test(s)) c.add(`${path}.scopes[${i}]`, 'a scope cannot contain spaces (give one per list item)')
  const authorizationParams: Record<string, string> = {}
  if (raw.authorizationParams !== undefined && raw.authorizationParams !== null) {
    if (!isObj(raw.authorizationParams)) c.add(`${path}.authorizationParams`, `expected a map, got ${describe(raw.authorizationParams)}`)
    else {
      for (const [k, v] of Object.entries(raw.authorizationParams)) {
        const p = `${path}.authorizationParams.${k}`
        if (RESERVED_AUTH_PARAMS.has(k)) c.add(p, 'is set by Gatehouse and cannot be configured')
        else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') authorizationParams[k] = String(v)
        else c.add(p, `expected a string, got ${describe(v)}`)
      }
    }
  }
  const loginUrl = str(c, raw, 'loginUrl', `${path}.loginUrl`)
  if (loginUrl !== undefined) {
    if (!loginUrl.includes('{authorizeUrl}')) c.add(`${path}.loginUrl`, 'must contain {authorizeUrl}')
    else httpUrl(c, loginUrl.replaceAll('{authorizeUrl}', 'x').replaceAll('{clientId}', 'x'), `${path}.loginUrl`)
  }
  const postLogoutRedirectUri = str(c, raw, 'postLogoutRedirectUri', `${path}.postLogoutRedirectUri`)
  if (postLogoutRedirectUri !== undefined) httpUrl(c, postLogoutRedirectUri, `${path}.postLogoutRedirectUri`)
  return {
    id,
    issuer: issuerText ?? '',
    clientId,
    ...(clientSecret !== undefined ? { clientSecret } : {}),
    tokenEndpointAuthMethod: method,
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(raw.privateKeyId !== undefined ? { privateKeyId: str(c, raw, 'privateKeyId', `${path}.privateKeyId`)! } : {}),
    responseType,
    responseMode,
    pkce,
    scopes,
    authorizationParams,
    ...(loginUrl !== undefined ? { loginUrl } : {}),
    fetchUserinfo: bool(c, raw, 'fetchUserinfo', `${path}.fetchUserinfo`, true),
    groupsClaim: str(c, raw, 'groupsClaim', `${path}.groupsClaim`, { def: 'groups' })!,
    allowInsecureHttp,
    ...(postLogoutRedirectUri !== undefined ? { postLogoutRedirectUri } : {}),
  }
}

function validateSession (c: Checker, raw: unknown): SessionConfig {
  const path = 'session'
  const obj: Obj = isObj(raw) ? raw : {}
  if (!isObj(raw)) c.add(path, raw === undefined ? 'is required (at least session.secret)' : `expected a map, got ${describe(raw)}`)
  known(c, obj, path, ['secret', 'secrets', 'cookieName', 'cookieDomain', 'store', 'redis', 'memory', 'idleTimeout', 'absoluteTimeout', 'refreshBefore', 'clockSkew'])
  let secrets: string[] = []
  if (obj.secret !== undefined && obj.secrets !== undefined) c.add(`${path}.secrets`, 'give either secret or secrets, not both')
  if (obj.secrets !== undefined) secrets = stringList(c, obj.secrets, `${path}.secrets`) ?? []
  else if (obj.secret !== undefined) {
    const s = str(c, obj, 'secret', `${path}.secret`)
    if (s !== undefined) secrets = [s]
  }
  if (secrets.length === 0 && isObj(raw)) c.add(`${path}.secret`, 'is required (or secrets: [new, old, ...])')
  secrets.forEach((s, i) => {
    const p = obj.secrets !== undefined ? `${path}.secrets[${i}]` : `${path}.secret`
    if (s.length < 32) c.add(p, `must be at least 32 characters (got ${s.length}); generate one with: openssl rand -base64 32`)
  })
  const cookieName = str(c, obj, 'cookieName', `${path}.cookieName`, { def: 'gatehouse' })!
  if (!COOKIE_NAME.test(cookieName)) c.add(`${path}.cookieName`, 'use only letters, digits, "_" and "-"')
  const store = oneOf(c, obj, 'store', `${path}.store`, STORES, 'cookie')
  let redis: SessionConfig['redis']
  if (obj.redis !== undefined) {
    if (!isObj(obj.redis)) c.add(`${path}.redis`, `expected a map, got ${describe(obj.redis)}`)
    else {
      known(c, obj.redis, `${path}.redis`, ['url', 'keyPrefix'])
      const url = str(c, obj.redis, 'url', `${path}.redis.url`, { required: true })
      if (url !== undefined && !/^rediss?:\/\//.test(url)) c.add(`${path}.redis.url`, `expected redis://host:port or rediss://..., got ${JSON.stringify(url)}`)
      redis = { url: url ?? '', keyPrefix: str(c, obj.redis, 'keyPrefix', `${path}.redis.keyPrefix`, { def: 'gatehouse:' })! }
    }
  }
  if (store === 'redis' && redis === undefined) c.add(`${path}.redis.url`, 'is required with store: redis')
  let maxSessions = 100_000
  if (obj.memory !== undefined) {
    if (!isObj(obj.memory)) c.add(`${path}.memory`, `expected a map, got ${describe(obj.memory)}`)
    else {
      known(c, obj.memory, `${path}.memory`, ['maxSessions'])
      maxSessions = int(c, obj.memory, 'maxSessions', `${path}.memory.maxSessions`, maxSessions, 1, 100_000_000)
    }
  }
  const idleTimeout = duration(c, obj, 'idleTimeout', `${path}.idleTimeout`, 3_600_000)
  const absoluteTimeout = duration(c, obj, 'absoluteTimeout', `${path}.absoluteTimeout`, 12 * 3_600_000)
  if (idleTimeout <= 0) c.add(`${path}.idleTimeout`, 'must be greater than 0')
  if (absoluteTimeout <= 0) c.add(`${path}.absoluteTimeout`, 'must be greater than 0')
  if (idleTimeout > absoluteTimeout) c.add(`${path}.idleTimeout`, 'must not be longer than absoluteTimeout')
  const cookieDomain = str(c, obj, 'cookieDomain', `${path}.cookieDomain`)
  return {
    secrets,
    cookieName,
    ...(cookieDomain !== undefined ? { cookieDomain } : {}),
    store,
    ...(redis !== undefined ? { redis } : {}),
    memory: { maxSessions },
    idleTimeout,
    absoluteTimeout,
    refreshBefore: duration(c, obj, 'refreshBefore', `${path}.refreshBefore`, 60_000),
    clockSkew: duration(c, obj, 'clockSkew', `${path}.clockSkew`, 30_000),
  }
}

/** Normalises a route path prefix: '/app/' and '/app' are the same prefix. */
export function normalisePrefix (p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') || '/' : p
}

function validateAllow (c: Checker, raw: unknown, path: string): AllowConfig | undefined {
  if (raw === undefined || raw === null) return undefined
  if (!isObj(raw)) { c.add(path, `expected a map, got ${describe(raw)}`); return undefined }
  known(c, raw, path, ['emails', 'domains', 'groups', 'claims'])
  const emails = stringList(c, raw.emails, `${path}.emails`)
  emails?.forEach((e, i) => { if (e.split('@').length !== 2 || e.startsWith('@') || e.endsWith('@')) c.add(`${path}.emails[${i}]`, `not an email address: ${JSON.stringify(e)}`) })
  const domains = stringList(c, raw.domains, `${path}.domains`)
  domains?.forEach((d, i) => { if (d.includes('@') || !/^[A-Za-z0-9.-]+$/.test(d)) c.add(`${path}.domains[${i}]`, `not a domain: ${JSON.stringify(d)} (write example.com, without @)`) })
  const groups = stringList(c, raw.groups, `${path}.groups`)
  let claims: Record<string, (string | number | boolean)[]> | undefined
  if (raw.claims !== undefined && raw.claims !== null) {
    if (!isObj(raw.claims)) c.add(`${path}.claims`, `expected a map of claim -> list of values, got ${describe(raw.claims)}`)
    else {
      claims = {}
      for (const [k, v] of Object.entries(raw.claims)) {
        const list = Array.isArray(v) ? v : [v]
        const ok = list.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
        if (!ok || list.length === 0) c.add(`${path}.claims.${k}`, 'expected a value or a list of values')
        else claims[k] = list as (string | number | boolean)[]
      }
    }
  }
  return {
    ...(emails !== undefined ? { emails } : {}),
    ...(domains !== undefined ? { domains } : {}),
    ...(groups !== undefined ? { groups } : {}),
    ...(claims !== undefined ? { claims } : {}),
  }
}

function validateRoute (c: Checker, raw: unknown, index: number, providerIds: string[]): RouteConfig | undefined {
  const path = `routes[${index}]`
  if (!isObj(raw)) { c.add(path, `expected a map, got ${describe(raw)}`); return undefined }
  known(c, raw, path, ['path', 'host', 'upstream', 'provider', 'auth', 'unauthenticated', 'allow', 'bearer', 'headers', 'stripPrefix'])
  const prefix = str(c, raw, 'path', `${path}.path`, { def: '/' })!
  if (!prefix.startsWith('/')) c.add(`${path}.path`, `must start with "/", got ${JSON.stringify(prefix)}`)
  else if (/[?#\s]/.test(prefix) || /(^|\/)\.\.?(\/|$)/.test(prefix)) c.add(`${path}.path`, `must be a plain path prefix (no query, fragment, spaces or dot segments), got ${JSON.stringify(prefix)}`)
  let host = str(c, raw, 'host', `${path}.host`)?.toLowerCase()
  if (host !== undefined && !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host)) {
    c.add(`${path}.host`, `not a host name: ${JSON.stringify(host)} (a wildcard is written *.example.com)`)
    host = undefined
  }
  const upstreamText = str(c, raw, 'upstream', `${path}.upstream`, { required: true })
  const upstream = httpUrl(c, upstreamText, `${path}.upstream`)
  if (upstream !== undefined && (upstream.search !== '' || upstream.hash !== '')) c.add(`${path}.upstream`, 'must not have a query or fragment')
  const provider = str(c, raw, 'provider', `${path}.provider`, { def: providerIds[0] ?? 'default' })!
  if (raw.provider !== undefined && !providerIds.includes(provider)) c.add(`${path}.provider`, `no provider with id ${JSON.stringify(provider)} (have: ${providerIds.join(', ') || 'none'})`)
  let headers: (readonly [string, string])[] = [...DEFAULT_HEADERS]
  if (raw.headers !== undefined && raw.headers !== null) {
    if (!isObj(raw.headers)) c.add(`${path}.headers`, `expected a map of header name -> claim name, got ${describe(raw.headers)}`)
    else {
      headers = []
      for (const [name, claim] of Object.entries(raw.headers)) {
        const p = `${path}.headers.${name}`
        if (!HEADER_NAME.test(name)) c.add(p, 'not a valid HTTP header name')
        else if (RESERVED_HEADERS.has(name.toLowerCase().replaceAll('_', '-'))) c.add(p, 'this header is managed by the proxy and cannot carry a claim')
        else if (typeof claim !== 'string' || claim === '') c.add(p, `expected a claim name, got ${describe(claim)}`)
        else headers.push([name, claim])
      }
    }
  }
  let upstreamNorm = ''
  if (upstream !== undefined) {
    // Keep a base path without a trailing slash so base + '/x' joins cleanly.
    upstreamNorm = upstream.origin + (upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/+$/, ''))
  }
  const allow = validateAllow(c, raw.allow, `${path}.allow`)
  return {
    index,
    path: normalisePrefix(prefix),
    ...(host !== undefined ? { host } : {}),
    upstream: upstreamNorm,
    provider,
    auth: oneOf(c, raw, 'auth', `${path}.auth`, AUTH_MODES, 'required'),
    unauthenticated: oneOf(c, raw, 'unauthenticated', `${path}.unauthenticated`, UNAUTH_MODES, 'auto'),
    ...(allow !== undefined ? { allow } : {}),
    bearer: oneOf(c, raw, 'bearer', `${path}.bearer`, BEARER_MODES, 'access_token'),
    headers,
    stripPrefix: bool(c, raw, 'stripPrefix', `${path}.stripPrefix`, false),
  }
}

function deepFreeze<T> (o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}

/**
 * Validates a parsed (and env-interpolated) configuration object. Returns the
 * normalised, frozen Config, or the full list of problems.
 */
export function validateConfig (raw: unknown): { config?: Config, problems: string[] } {
  const c = new Checker()
  if (!isObj(raw)) return { problems: [`(top level): expected a map of settings, got ${describe(raw)}`] }
  known(c, raw, '', ['listen', 'publicUrl', 'trustProxy', 'admin', 'log', 'loginRedirect', 'upstream', 'workers', 'providers', 'session', 'routes', 'shutdownGrace', 'reload'])
  const listenAddr = listen(c, raw, 'listen', 'listen', '0.0.0.0:8080')
  const publicUrlText = str(c, raw, 'publicUrl', 'publicUrl', { required: true })
  const publicUrl = httpUrl(c, publicUrlText, 'publicUrl')
  if (publicUrl !== undefined && (publicUrl.pathname !== '/' || publicUrl.search !== '' || publicUrl.hash !== '')) {
    c.add('publicUrl', `must be an origin only, like https://app.example.com (got path ${JSON.stringify(publicUrl.pathname + publicUrl.search)})`)
  }
  let admin: Config['admin']
  if (raw.admin !== undefined && raw.admin !== null) {
    if (!isObj(raw.admin)) c.add('admin', `expected a map, got ${describe(raw.admin)}`)
    else {
      known(c, raw.admin, 'admin', ['listen'])
      const a = listen(c, raw.admin, 'listen', 'admin.listen')
      if (a !== undefined) admin = { listen: a }
    }
  }
  let logLevel = 'info'
  let logRequests = false
  if (raw.log !== undefined && raw.log !== null) {
    if (!isObj(raw.log)) c.add('log', `expected a map, got ${describe(raw.log)}`)
    else {
      known(c, raw.log, 'log', ['level', 'requests'])
      logLevel = oneOf(c, raw.log, 'level', 'log.level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info')
      logRequests = bool(c, raw.log, 'requests', 'log.requests', false)
    }
  }
  let upstreamOpts = { connections: 64, connectTimeout: 5_000, timeout: 60_000 }
  if (raw.upstream !== undefined && raw.upstream !== null) {
    if (!isObj(raw.upstream)) c.add('upstream', `expected a map, got ${describe(raw.upstream)}`)
    else {
      known(c, raw.upstream, 'upstream', ['connections', 'connectTimeout', 'timeout'])
      upstreamOpts = {
        connections: int(c, raw.upstream, 'connections', 'upstream.connections', 64, 1, 10_000),
        connectTimeout: duration(c, raw.upstream, 'connectTimeout', 'upstream.connectTimeout', 5_000),
        timeout: duration(c, raw.upstream, 'timeout', 'upstream.timeout', 60_000),
      }
    }
  }

  const providers: ProviderConfig[] = []
  if (raw.providers === undefined || raw.providers === null) c.add('providers', 'is required (at least one identity provider)')
  else if (!Array.isArray(raw.providers)) c.add('providers', `expected a list, got ${describe(raw.providers)}`)
  else if (raw.providers.length === 0) c.add('providers', 'must list at least one identity provider')
  else {
    raw.providers.forEach((p, i) => {
      const v = validateProvider(c, p, `providers[${i}]`)
      if (v === undefined) return
      if (providers.some((q) => q.id === v.id)) c.add(`providers[${i}].id`, `duplicate id ${JSON.stringify(v.id)}`)
      providers.push(v)
    })
  }
  const session = validateSession(c, raw.session)
  // `auto`: one worker per CPU the process may use.
  const workers = raw.workers === 'auto' ? availableParallelism() : int(c, raw, 'workers', 'workers', 1, 1, 256)
  if (workers > 1 && session.store === 'memory') {
    c.add('workers', 'memory sessions live inside one process; with more than one worker use session.store cookie or redis')
  }
  const routes: RouteConfig[] = []
  const providerIds = providers.map((p) => p.id)
  if (raw.routes === undefined || raw.routes === null) c.add('routes', 'is required (at least one route)')
  else if (!Array.isArray(raw.routes)) c.add('routes', `expected a list, got ${describe(raw.routes)}`)
  else if (raw.routes.length === 0) c.add('routes', 'must list at least one route')
  else raw.routes.forEach((r, i) => { const v = validateRoute(c, r, i, providerIds); if (v !== undefined) routes.push(v) })
  for (const r of routes) {
    const p = providers.find((q) => q.id === r.provider)
    // An implicit login with response_type=id_token yields no access token: a
    // route that promises one to its upstream could never be served. (A public
    // route forwards no token at all.)
    if (p !== undefined && r.auth !== 'public' && r.bearer === 'access_token' && !yieldsAccessToken(p.responseType)) {
      const defaulted = (raw.routes as Obj[])[r.index]?.bearer === undefined ? ' (access_token is the default)' : ''
      c.add(`routes[${r.index}].bearer`, `provider ${JSON.stringify(p.id)} uses responseType ${JSON.stringify(p.responseType)}, which yields no access token${defaulted}; use bearer: id_token or none`)
    }
  }

  const shutdownGrace = duration(c, raw, 'shutdownGrace', 'shutdownGrace', 10_000)
  let watch = false
  if (raw.reload !== undefined && raw.reload !== null) {
    if (!isObj(raw.reload)) c.add('reload', `expected a map, got ${describe(raw.reload)}`)
    else {
      known(c, raw.reload, 'reload', ['watch'])
      watch = bool(c, raw.reload, 'watch', 'reload.watch', false)
    }
  }

  if (c.problems.length > 0 || listenAddr === undefined || publicUrl === undefined) return { problems: c.problems }
  const config: Config = {
    listen: listenAddr,
    publicUrl: publicUrl.origin,
    publicOrigin: publicUrl.origin,
    secure: publicUrl.protocol === 'https:',
    trustProxy: bool(c, raw, 'trustProxy', 'trustProxy', false),
    ...(admin !== undefined ? { admin } : {}),
    log: { level: logLevel, requests: logRequests },
    loginRedirect: oneOf(c, raw, 'loginRedirect', 'loginRedirect', ['provider', 'gateway'] as const, 'provider'),
    upstream: upstreamOpts,
    workers,
    providers,
    session,
    routes,
    shutdownGrace,
    reload: { watch },
  }
  if (c.problems.length > 0) return { problems: c.problems }
  return { config: deepFreeze(config), problems: [] }
}

/**
 * Things a valid configuration does that an operator should know about at
 * start-up: flows RFC 9700 discourages, and form_post behind a plain-http
 * public URL, whose login cookie cannot be SameSite=None (see login-state.ts).
 */
export function configWarnings (config: Config): string[] {
  const out: string[] = []
  const publicHost = new URL(config.publicOrigin).hostname
  config.providers.forEach((p, i) => {
    if (p.responseType !== 'code') {
      out.push(`providers[${i}].responseType: ${JSON.stringify(p.responseType)} returns tokens from the authorization endpoint (implicit/hybrid), which RFC 9700 discourages; use "code" where the provider allows it`)
    }
    if (p.responseMode === 'form_post' && !config.secure && !isLoopbackHost(publicHost)) {
      out.push(`providers[${i}].responseMode: form_post with a plain-http publicUrl: the login cookie cannot be SameSite=None (browsers require Secure), so logins work only when the provider is on the same site as ${config.publicOrigin}`)
    }
  })
  return out
}
