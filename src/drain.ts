import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/** While draining, idle keep-alive connections are looked for this often. */
const IDLE_SWEEP_MS = 1_000

/**
 * The proxy listener's side of a shutdown drain. The listener stays open, so
 * requests that a load balancer still sends (it has not yet seen /readyz
 * fail) are served; but every response now carries `Connection: close` and
 * its connection ends after it, and connections idling in keep-alive are
 * closed, so clients reconnect to another replica.
 *
 * Installed only when a drain starts: the request path pays nothing before.
 * Returns a function that stops the idle sweep.
 */
export function startDraining (server: Server): () => void {
  // Before Fastify's listener: Node then writes `Connection: close` and ends the socket after the response.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => { res.shouldKeepAlive = false })
  server.closeIdleConnections()
  // A connection busy when the drain began falls idle later.
  const sweep = setInterval(() => { server.closeIdleConnections() }, IDLE_SWEEP_MS)
  sweep.unref()
  return () => { clearInterval(sweep) }
}

/** Extra time after `shutdownGrace` for requests still in flight, before the process exits anyway. */
export const DRAIN_MARGIN_MS = 5_000
