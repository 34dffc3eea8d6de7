import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https'
import type { Config } from './config/types.js'

/**
 * The proxy listener's server: HTTP, or HTTPS (HTTP/1.1, keep-alive) with
 * `tls`. Built for Fastify's `serverFactory`; `handler` sees every request.
 */
export function createProxyServer (config: Config, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  // Room for chunked session cookies (up to 16 x 3.8 KB) on top of the app's own headers.
  const options = { maxHeaderSize: 96 * 1024 }
  // An https.Server serves requests as an http.Server does (its methods are http's), over TLS.
  const server = config.tls !== undefined
    ? createHttpsServer({ ...options, cert: config.tls.cert, key: config.tls.key }, handler) as unknown as Server
    : createHttpServer(options, handler)
  // What Fastify sets on a server it makes itself.
  server.keepAliveTimeout = 72_000
  server.requestTimeout = 0
  server.setTimeout(0)
  return server
}

interface Log {
  info (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/**
 * After a reload: serves the certificate of `next` on new TLS connections
 * (connections already open keep theirs). The pair was checked when `next`
 * was loaded; should the TLS library refuse it anyway, the certificate in
 * service stays and that is logged. Returns whether the certificate changed.
 */
export function updateProxyTls (server: Server, prev: Config, next: Config, log: Log): boolean {
  if (!(server instanceof HttpsServer) || next.tls === undefined) return false
  if (prev.tls?.cert === next.tls.cert && prev.tls.key === next.tls.key) return false
  try {
    server.setSecureContext({ cert: next.tls.cert, key: next.tls.key })
  } catch (err) {
    log.error({ certFile: next.tls.certFile, keyFile: next.tls.keyFile, err: (err as Error).message }, 'tls: the reloaded certificate cannot be used; the previous one is still served')
    return false
  }
  log.info({ certFile: next.tls.certFile }, 'TLS certificate reloaded')
  return true
}
