import type { IncomingMessage, ServerResponse } from 'node:http'
import { Pool } from 'undici'
import type { UpstreamOptions } from '../config/types.js'

/**
 * Plain-HTTP forwarding with undici's stream API: the request body is piped
 * to the upstream and the response body straight into Node's response, with
 * no buffering. One keep-alive pool per upstream origin.
 *
 * Why not @fastify/reply-from (the engine of @fastify/http-proxy) on this
 * path: measured on the benchmark machine it costs ~40 µs CPU more per
 * request than `Pool.stream()` behind `reply.hijack()` (see docs/performance.md).
 */

const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'])

export class UpstreamPools {
  readonly #pools = new Map<string, Pool>()
  readonly #opts: UpstreamOptions

  constructor (opts: UpstreamOptions) { this.#opts = opts }

  /** The pool for an origin, created on first use. Call at config load for known upstreams. */
  get (origin: string): Pool {
    let p = this.#pools.get(origin)
    if (p === undefined) {
      p = new Pool(origin, {
        connections: this.#opts.connections,
        connect: { timeout: this.#opts.connectTimeout },
        headersTimeout: this.#opts.timeout,
        bodyTimeout: this.#opts.timeout,
        keepAliveTimeout: 4_000,
      })
      this.#pools.set(origin, p)
    }
    return p
  }

  async close (): Promise<void> {
    await Promise.allSettled([...this.#pools.values()].map(async (p) => p.close()))
    this.#pools.clear()
  }
}

export type UpstreamFailure = 'unreachable' | 'timeout' | 'aborted'

/** Classifies an undici error: which page (502 or 504) the client should get. */
export function classifyUpstreamError (err: unknown): UpstreamFailure {
  const code = (err as { code?: string })?.code
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout'
  if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return 'aborted'
  return 'unreachable'
}

export interface ForwardRequest {
  readonly pool: Pool
  readonly method: string
  /** Path and query for the upstream (base path and prefix handling done). */
  readonly path: string
  readonly headers: Record<string, string | string[]>
  /** Set-Cookie values Gatehouse adds to the upstream's response (session refresh). */
  readonly setCookies: readonly string[] | undefined
  /** Called when the upstream fails before any response byte was sent. */
  readonly onError: (failure: UpstreamFailure, err: unknown) => void
  /** Called once the response has been handed over completely (or failed after headers). */
  readonly onDone?: (statusCode: number, err?: unknown) => void
}

function hasBody (req: IncomingMessage): boolean {
  const cl = req.headers['content-length']
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined
}

/** Forwards `req` upstream and streams the answer into `res`. Never throws. */
export function forward (req: IncomingMessage, res: ServerResponse, f: ForwardRequest): void {
  let status = 0
  f.pool.stream({
    method: f.method as 'GET',
    path: f.path,
    headers: f.headers,
    body: hasBody(req) ? req : null,
  }, ({ statusCode, headers }) => {
    status = statusCode
    const out: string[] = []
    for (const name in headers) {
      if (RESPONSE_HOP_BY_HOP.has(name)) continue
      const v = headers[name]
      if (Array.isArray(v)) for (const item of v) out.push(name, item)
      else if (v !== undefined) out.push(name, v)
    }
    if (f.setCookies !== undefined) for (const c of f.setCookies) out.push('set-cookie', c)
    res.writeHead(statusCode, out)
    return res
  }).then(() => {
    f.onDone?.(status)
  }, (err: unknown) => {
    if (!res.headersSent) f.onError(classifyUpstreamError(err), err)
    else res.destroy()
    f.onDone?.(status === 0 ? 502 : status, err)
  })
}
