import { section, type Checker } from './fields.js'
import { assertion } from './sections/assertion.js'
import { providers, yieldsAccessToken } from './sections/providers.js'
import { routes, type RouteDraft } from './sections/routes.js'
import { limits, log, reload, shutdownGrace, upstream, workers } from './sections/runtime.js'
import { admin, listen, loginRedirect, publicUrl, trustProxy } from './sections/server.js'
import { session } from './sections/session.js'
import { tls } from './sections/tls.js'
import type { Config, ListenAddress, ProviderConfig, RouteConfig } from './types.js'

/**
 * The whole configuration file: one field per top-level key, each section in
 * its own module under sections/. Adding a setting is one line in its
 * section's field list (the schema follows), plus its use in `build` there.
 * Checks that span sections live here.
 */
export const configFile = section({
  listen,
  tls,
  publicUrl,
  trustProxy,
  admin,
  log,
  limits,
  loginRedirect,
  upstream,
  workers,
  providers,
  session,
  routes,
  assertion,
  shutdownGrace,
  reload,
}, {
  description: 'Gatehouse configuration',
  build (v, c): Config | undefined {
    const publicUrl = v.publicUrl?.url
    if (publicUrl !== undefined && (publicUrl.pathname !== '/' || publicUrl.search !== '' || publicUrl.hash !== '')) {
      c.add('publicUrl', `must be an origin only, like https://app.example.com (got path ${JSON.stringify(publicUrl.pathname + publicUrl.search)})`)
    }
    const routes = resolveRoutes(c, v.routes, v.providers)
    const assertionHeader = v.assertion.header.toLowerCase().replaceAll('_', '-')
    for (const r of routes) {
      for (const [name] of r.headers) {
        if (name.toLowerCase().replaceAll('_', '-') === assertionHeader) c.add(`routes[${r.index}].headers.${name}`, `is the assertion header (assertion.header), which carries the signed assertion`)
      }
    }
    if (v.workers > 1 && v.session.store === 'memory') {
      c.add('workers', 'memory sessions live inside one process; with more than one worker use session.store cookie or redis')
    }
    if (v.listen !== undefined && v.admin !== undefined && listenersOverlap(v.listen, v.admin.listen)) {
      const other = v.listen.port === 9901 ? 9902 : 9901
      c.add('admin.listen', `${showListen(v.admin.listen)} overlaps listen ${showListen(v.listen)} (both on port ${v.listen.port}; the second listener would fail with EADDRINUSE); give the admin endpoints a port of their own, e.g. ${showListen({ host: v.admin.listen.host, port: other })}`)
    }
    const domain = v.session.cookieDomain?.replace(/^\./, '').toLowerCase()
    const publicHost = publicUrl?.hostname.toLowerCase()
    if (domain !== undefined && publicHost !== undefined && publicHost !== domain && !publicHost.endsWith(`.${domain}`)) {
      // The callback on publicUrl sets the session cookie: a browser drops a cookie whose Domain does not cover the host.
      c.add('session.cookieDomain', `${JSON.stringify(v.session.cookieDomain)} does not cover the publicUrl host ${publicHost}: browsers would refuse the session cookie`)
    }
    if (v.listen === undefined || publicUrl === undefined) return undefined
    return {
      listen: v.listen,
      ...(v.tls !== undefined ? { tls: v.tls } : {}),
      publicUrl: publicUrl.origin,
      publicOrigin: publicUrl.origin,
      secure: publicUrl.protocol === 'https:',
      trustProxy: v.trustProxy,
      ...(v.admin !== undefined ? { admin: v.admin } : {}),
      log: v.log,
      limits: v.limits,
      loginRedirect: v.loginRedirect,
      upstream: v.upstream,
      workers: v.workers,
      providers: v.providers,
      session: v.session,
      routes,
      assertion: v.assertion,
      shutdownGrace: v.shutdownGrace,
      reload: v.reload,
    }
  },
})

/**
 * Gives each route its provider (default: the first, or the first of its
 * `providers`) and checks the route can be served by each provider it names.
 */
function resolveRoutes (c: Checker, drafts: readonly RouteDraft[], providers: readonly ProviderConfig[]): RouteConfig[] {
  const ids = providers.map((p) => p.id)
  const have = `(have: ${ids.join(', ') || 'none'})`
  const known = (id: string, at: string): void => {
    if (!ids.includes(id)) c.add(at, `no provider with id ${JSON.stringify(id)} ${have}`)
  }
  return drafts.map(({ bearerGiven, acceptBearer, upstreamToken, ...draft }) => {
    const path = `routes[${draft.index}]`
    const listed = draft.providers
    listed?.forEach((id, i) => {
      if (!ids.includes(id)) known(id, `${path}.providers[${i}]`)
      else if (listed.indexOf(id) !== i) c.add(`${path}.providers[${i}]`, `${JSON.stringify(id)} is listed twice`)
    })
    if (listed !== undefined && listed.length === 0) c.add(`${path}.providers`, 'must list at least one provider id')
    const provider = draft.provider ?? listed?.[0] ?? ids[0] ?? 'default'
    if (draft.provider !== undefined && !ids.includes(provider)) known(provider, `${path}.provider`)
    else if (draft.provider !== undefined && listed !== undefined && listed.length > 0 && !listed.includes(provider)) c.add(`${path}.provider`, `${JSON.stringify(provider)} is not in the route's providers (${listed.join(', ')})`)
    acceptBearer?.providers?.forEach((id, i) => { known(id, `${path}.acceptBearer.providers[${i}]`) })
    if (upstreamToken?.kind === 'clientCredentials') {
      const at = `${path}.upstreamToken.clientCredentials.provider`
      if (upstreamToken.provider !== undefined) known(upstreamToken.provider, at)
      const cc = providers.find((q) => q.id === (upstreamToken.provider ?? provider))
      if (cc?.tokenEndpointAuthMethod === 'none') c.add(at, `provider ${JSON.stringify(cc.id)} has no client credentials (tokenEndpointAuthMethod none): the client_credentials grant needs a clientSecret or privateKey`)
    }
    const extra = {
      ...(acceptBearer !== undefined ? { acceptBearer: { ...acceptBearer, providers: acceptBearer.providers ?? [provider] } } : {}),
      ...(upstreamToken !== undefined ? { upstreamToken: upstreamToken.kind === 'clientCredentials' ? { ...upstreamToken, provider: upstreamToken.provider ?? provider } : upstreamToken } : {}),
    }
    // An implicit login with response_type=id_token yields no access token: a
    // route that promises one to its upstream could never be served. (A public
    // route forwards no token at all; with upstreamToken, the gateway's own
    // token is sent instead.)
    for (const id of new Set([provider, ...(listed ?? [])])) {
      const p = providers.find((q) => q.id === id)
      if (p !== undefined && draft.auth !== 'public' && draft.bearer === 'access_token' && upstreamToken === undefined && !yieldsAccessToken(p.responseType)) {
        const defaulted = bearerGiven ? '' : ' (access_token is the default)'
        c.add(`${path}.bearer`, `provider ${JSON.stringify(p.id)} uses responseType ${JSON.stringify(p.responseType)}, which yields no access token${defaulted}; use bearer: id_token or none`)
      }
    }
    return { ...draft, provider, ...extra }
  })
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', ''])
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1'])

/** Whether two listeners would claim the same socket: same port, and a wildcard host or the same host. Port 0 picks a free port. */
export function listenersOverlap (a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port || a.port === 0) return false
  const ha = a.host.toLowerCase()
  const hb = b.host.toLowerCase()
  if (WILDCARD_HOSTS.has(ha) || WILDCARD_HOSTS.has(hb) || ha === hb) return true
  // localhost resolves to 127.0.0.1 (or ::1).
  return (ha === 'localhost' && LOOPBACK_NAMES.has(hb)) || (hb === 'localhost' && LOOPBACK_NAMES.has(ha))
}

const showListen = (l: ListenAddress): string => l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`
