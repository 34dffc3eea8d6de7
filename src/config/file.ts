import { section, type Checker } from './fields.js'
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
      shutdownGrace: v.shutdownGrace,
      reload: v.reload,
    }
  },
})

/** Gives each route its provider (default: the first) and checks the route can be served by that provider's flow. */
function resolveRoutes (c: Checker, drafts: readonly RouteDraft[], providers: readonly ProviderConfig[]): RouteConfig[] {
  const ids = providers.map((p) => p.id)
  return drafts.map(({ bearerGiven, ...draft }) => {
    const path = `routes[${draft.index}]`
    const provider = draft.provider ?? ids[0] ?? 'default'
    if (draft.provider !== undefined && !ids.includes(provider)) c.add(`${path}.provider`, `no provider with id ${JSON.stringify(provider)} (have: ${ids.join(', ') || 'none'})`)
    const p = providers.find((q) => q.id === provider)
    // An implicit login with response_type=id_token yields no access token: a
    // route that promises one to its upstream could never be served. (A public
    // route forwards no token at all.)
    if (p !== undefined && draft.auth !== 'public' && draft.bearer === 'access_token' && !yieldsAccessToken(p.responseType)) {
      const defaulted = bearerGiven ? '' : ' (access_token is the default)'
      c.add(`${path}.bearer`, `provider ${JSON.stringify(p.id)} uses responseType ${JSON.stringify(p.responseType)}, which yields no access token${defaulted}; use bearer: id_token or none`)
    }
    return { ...draft, provider }
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
