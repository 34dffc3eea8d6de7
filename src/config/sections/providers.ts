import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { MULTI_TENANT_ISSUERS, TENANT_ID } from '../../auth/tenants.js'
import { isLoopbackHost } from '../../net/loopback.js'
import { claimNameProblem } from '../../policy/claim-path.js'
import { choice, custom, describe, flag, httpUrl, isObj, list, section, strings, text, url, type Checker } from '../fields.js'
import { isPlaceholder } from '../secret-strength.js'
import type { ProviderConfig, ResponseMode, ResponseType, TokenEndpointAuthMethod } from '../types.js'

export const RESPONSE_TYPES: readonly ResponseType[] = ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token']
const RESPONSE_MODES: readonly ResponseMode[] = ['query', 'fragment', 'form_post']
const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']
/** Authorization parameters Gatehouse sets itself; a config may not override them. */
const RESERVED_AUTH_PARAMS = new Set(['client_id', 'redirect_uri', 'response_type', 'response_mode', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method'])

/** Whether a login with this response type ends with an access token (every type but a bare `id_token`). */
export function yieldsAccessToken (responseType: ResponseType): boolean {
  return responseType !== 'id_token'
}

/** Why a private_key_jwt key (PEM or JWK text) cannot sign client assertions, or undefined when it can. */
function privateKeyProblem (value: string): string | undefined {
  const t = value.trim()
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

const authorizationParams = custom(
  { description: 'extra parameters added to every authorization request (those Gatehouse sets itself cannot be overridden)', type: 'object', propertyNames: { not: { enum: [...RESERVED_AUTH_PARAMS] } }, additionalProperties: { type: ['string', 'number', 'boolean'] } },
  (c: Checker, v: unknown, path: string): Record<string, string> => {
    const out: Record<string, string> = {}
    if (v === undefined || v === null) return out
    if (!isObj(v)) { c.add(path, `expected a map, got ${describe(v)}`); return out }
    for (const [k, x] of Object.entries(v)) {
      const p = `${path}.${k}`
      if (RESERVED_AUTH_PARAMS.has(k)) c.add(p, 'is set by Gatehouse and cannot be configured')
      else if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out[k] = String(x)
      else c.add(p, `expected a string, got ${describe(x)}`)
    }
    return out
  },
)

export const provider = section({
  id: text({ def: 'default', description: 'routes refer to it; the first provider is the default', pattern: { re: /^[A-Za-z0-9_.-]+$/, message: () => 'use letters, digits, ".", "_" or "-"' } }),
  issuer: url({ required: true, description: 'discovery at issuer + /.well-known/openid-configuration; the document\'s issuer must equal this exactly' }),
  clientId: text({ required: true, description: 'the client id registered at the provider' }),
  clientSecret: text({ secret: true, description: 'required for client_secret_basic and client_secret_post' }),
  tokenEndpointAuthMethod: choice(AUTH_METHODS, { description: 'default: client_secret_basic (private_key_jwt with a privateKey; none for id_token flows without a secret)' }),
  privateKey: text({ secret: true, description: 'PEM or private JWK (RSA, EC P-256/384/521, Ed25519) for private_key_jwt' }),
  privateKeyId: text({ description: 'the kid of client assertions (default: the JWK\'s kid, else the RFC 7638 thumbprint)' }),
  responseType: choice(RESPONSE_TYPES, { def: 'code', description: 'the OpenID Connect flow; anything but code logs a warning (RFC 9700)' }),
  responseMode: choice(RESPONSE_MODES, { description: 'default: query for code, fragment otherwise' }),
  pkce: flag({ description: 'S256; default true with a code' }),
  scopes: strings({ description: 'default [openid, email, profile]; must include openid' }),
  authorizationParams,
  loginUrl: text({ description: 'template of the login URL: {authorizeUrl} and {clientId} are replaced, URL-encoded once' }),
  fetchUserinfo: flag({ def: true, description: 'call the userinfo endpoint at login and merge its claims' }),
  groupsClaim: text({ def: 'groups', description: 'claim used by allow.groups: a name looked up whole first (https://example.com/roles), then as a dotted path into nested objects (realm_access.roles)' }),
  tenants: strings({ description: 'Entra ID multi-tenant: the tenant ids (tid) accepted, with issuer https://login.microsoftonline.com/organizations/v2.0 (or common/v2.0)' }),
  allowInsecureHttp: flag({ def: false, description: 'allow a non-loopback http:// issuer (never in production)' }),
  postLogoutRedirectUri: text({ description: 'sent to the end-session endpoint; must be registered at the provider' }),
  name: text({ description: 'the label on the sign-in chooser page of routes with several providers (default: the id)' }),
}, {
  description: 'an OpenID Connect provider',
  build (v, c, { path }): ProviderConfig {
    const issuer = v.issuer?.url
    if (issuer !== undefined && issuer.protocol === 'http:' && !isLoopbackHost(issuer.hostname) && !v.allowInsecureHttp) {
      c.add(`${path}.issuer`, 'must be https:// (http:// is allowed only on loopback, or with allowInsecureHttp: true)')
    }
    const { clientSecret, privateKey, responseType } = v
    if (clientSecret !== undefined && isPlaceholder(clientSecret)) c.add(`${path}.clientSecret`, 'is a placeholder; use the secret the provider issued for this client')
    const hasCode = responseType.includes('code')
    // Without a code (id_token, "id_token token") the token endpoint is never
    // used: such a client has nothing to authenticate with, and is public.
    const method = v.tokenEndpointAuthMethod ??
      (clientSecret === undefined && privateKey !== undefined ? 'private_key_jwt' : clientSecret === undefined && !hasCode ? 'none' : 'client_secret_basic')
    if ((method === 'client_secret_basic' || method === 'client_secret_post') && clientSecret === undefined) {
      // A forgotten secret must not silently turn the client into a public one.
      c.add(`${path}.clientSecret`, `is required with tokenEndpointAuthMethod ${method} (a public client says tokenEndpointAuthMethod: none)`)
    }
    if (method === 'private_key_jwt' && privateKey === undefined) c.add(`${path}.privateKey`, 'is required with tokenEndpointAuthMethod private_key_jwt (or privateKeyFile)')
    if (privateKey !== undefined) {
      const problem = privateKeyProblem(privateKey)
      if (problem !== undefined) c.add(`${path}.privateKey`, problem)
    }
    const responseMode = v.responseMode ?? (responseType === 'code' ? 'query' : 'fragment')
    if (responseType !== 'code' && responseMode === 'query') {
      c.add(`${path}.responseMode`, `query cannot carry tokens for responseType ${JSON.stringify(responseType)} (use fragment or form_post)`)
    }
    const pkce = v.pkce ?? hasCode
    // PKCE binds the code to this browser's login; without a code there is nothing to bind.
    if (pkce && !hasCode) c.add(`${path}.pkce`, `applies only to response types with a code (responseType is ${JSON.stringify(responseType)})`)
    if (method === 'none' && hasCode && !pkce) c.add(`${path}.pkce`, 'a public client (tokenEndpointAuthMethod none) must use PKCE')
    const scopes = v.scopes ?? ['openid', 'email', 'profile']
    if (!scopes.includes('openid')) c.add(`${path}.scopes`, 'must include "openid"')
    for (const [i, s] of scopes.entries()) if (/\s/.test(s)) c.add(`${path}.scopes[${i}]`, 'a scope cannot contain spaces (give one per list item)')
    const { loginUrl, postLogoutRedirectUri } = v
    if (loginUrl !== undefined) {
      if (!loginUrl.includes('{authorizeUrl}')) c.add(`${path}.loginUrl`, 'must contain {authorizeUrl}')
      else httpUrl(c, loginUrl.replaceAll('{authorizeUrl}', 'x').replaceAll('{clientId}', 'x'), `${path}.loginUrl`)
    }
    if (postLogoutRedirectUri !== undefined) httpUrl(c, postLogoutRedirectUri, `${path}.postLogoutRedirectUri`)
    const tenants = v.tenants?.map((t) => t.toLowerCase())
    const multiTenant = v.issuer !== undefined && MULTI_TENANT_ISSUERS.includes(v.issuer.text)
    if (tenants !== undefined) {
      if (!multiTenant) c.add(`${path}.tenants`, `applies only with issuer ${MULTI_TENANT_ISSUERS.join(' or ')} (one tenant's issuer needs no list)`)
      if (tenants.length === 0) c.add(`${path}.tenants`, 'must list at least one tenant id')
      tenants.forEach((t, i) => { if (!TENANT_ID.test(t)) c.add(`${path}.tenants[${i}]`, `not a tenant id (a GUID, the Directory (tenant) ID): ${JSON.stringify(v.tenants![i])}`) })
    } else if (multiTenant) {
      // The template issuer alone would accept a user of any Entra ID tenant.
      c.add(`${path}.issuer`, 'accepts users of every Entra ID tenant: list the tenant ids you accept in tenants, or use one tenant\'s issuer https://login.microsoftonline.com/<tenant id>/v2.0')
    }
    const groupsClaimProblem = claimNameProblem(v.groupsClaim)
    if (groupsClaimProblem !== undefined) c.add(`${path}.groupsClaim`, groupsClaimProblem)
    return {
      id: v.id,
      issuer: v.issuer?.text ?? '',
      clientId: v.clientId ?? '',
      ...(clientSecret !== undefined ? { clientSecret } : {}),
      tokenEndpointAuthMethod: method,
      ...(privateKey !== undefined ? { privateKey } : {}),
      ...(v.privateKeyId !== undefined ? { privateKeyId: v.privateKeyId } : {}),
      responseType,
      responseMode,
      pkce,
      scopes,
      authorizationParams: v.authorizationParams,
      ...(loginUrl !== undefined ? { loginUrl } : {}),
      fetchUserinfo: v.fetchUserinfo,
      groupsClaim: v.groupsClaim,
      ...(tenants !== undefined ? { tenants } : {}),
      allowInsecureHttp: v.allowInsecureHttp,
      ...(postLogoutRedirectUri !== undefined ? { postLogoutRedirectUri } : {}),
      ...(v.name !== undefined ? { name: v.name } : {}),
    }
  },
})

export const providers = list(provider, {
  description: 'identity providers; the first is the default',
  required: 'is required (at least one identity provider)',
  empty: 'must list at least one identity provider',
  check (items, c, path) {
    const seen = new Map<string, number>()
    for (const [i, p] of items) {
      if (seen.has(p.id)) c.add(`${path}[${i}].id`, `duplicate id ${JSON.stringify(p.id)}`)
      else seen.set(p.id, i)
    }
  },
})
