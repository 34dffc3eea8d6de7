import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'

/**
 * What the gateway knows of a request before deciding anything: read once,
 * from the raw request, by whichever entry it came through (the proxy port,
 * and later forward-auth and WebSocket upgrades). Plain data: the decision
 * core (decide.ts) takes it and nothing of Node's or Fastify's request.
 */
export interface RequestFacts {
  readonly method: string
  /** Path and query as the client sent them. */
  readonly url: string
  /** The path part of `url` (raw spelling). */
  readonly path: string
  /** '' or the query string with its '?'. */
  readonly query: string
  /** Host the client asked for: lower-case, without port (requestHost). */
  readonly host: string
  readonly headers: IncomingHttpHeaders
  /** The socket peer's address ('' when the socket is gone). */
  readonly remoteAddress: string
  /** The request came over TLS to this process. */
  readonly secure: boolean
}

/** Host the client asked for: lower-case, without port; X-Forwarded-Host's first value when a proxy in front is trusted. Pure. */
export function requestHost (headers: IncomingHttpHeaders, trustProxy: boolean): string {
  let h: string | string[] = (trustProxy ? headers['x-forwarded-host'] : undefined) ?? headers.host ?? ''
  if (Array.isArray(h)) h = h[0] ?? ''
  const comma = h.indexOf(',')
  if (comma !== -1) h = h.slice(0, comma).trim()
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']')
    return (end === -1 ? h : h.slice(0, end + 1)).toLowerCase()
  }
  const colon = h.indexOf(':')
  return (colon === -1 ? h : h.slice(0, colon)).toLowerCase()
}

/** The facts of a request arriving on the proxy port. */
export function requestFacts (raw: IncomingMessage, trustProxy: boolean): RequestFacts {
  const url = raw.url ?? '/'
  const q = url.indexOf('?')
  return {
    method: raw.method ?? 'GET',
    url,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q),
    host: requestHost(raw.headers, trustProxy),
    headers: raw.headers,
    remoteAddress: raw.socket.remoteAddress ?? '',
    secure: (raw.socket as TLSSocket).encrypted === true,
  }
}

/**
 * Browser navigations are sent to log in; everything else gets 401. A request
 * that will not navigate (XHR, fetch, non-GET) must not start a login: that
 * would mint login-state cookies nobody completes. Pure.
 */
export function wantsLoginRedirect (method: string, headers: IncomingHttpHeaders, mode: 'auto' | 'redirect' | 'deny'): boolean {
  if (mode === 'deny') return false
  if (method !== 'GET' && method !== 'HEAD') return false
  if (mode === 'redirect') return true
  if (headers['x-requested-with'] !== undefined) return false
  const fetchMode = headers['sec-fetch-mode']
  if (fetchMode !== undefined) return fetchMode === 'navigate'
  const accept = headers.accept
  return typeof accept === 'string' && accept.includes('text/html')
}
