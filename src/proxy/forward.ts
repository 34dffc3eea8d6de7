import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { Pool, type Dispatcher } from 'undici'
import type { UpstreamOptions } from '../config/types.js'
import type { UpstreamTiming } from '../observe.js'

/**
 * Plain-HTTP forwarding with undici's dispatch API: the request body is
 * piped to the upstream and the response body straight into Node's
 * response, with no buffering. One keep-alive pool per upstream origin.
 *
 * Why not @fastify/reply-from (the engine of @fastify/http-proxy) on this
 * path: on the benchmark machine it costs tens of µs of CPU more per request
 * than forwarding behind `reply.hijack()` (numbers in docs/performance.md).
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

  /** Origins with a pool. */
  origins (): string[] { return [...this.#pools.keys()] }

  /**
   * Takes an origin's pool out (a reload removed its last route) and returns
   * it for the caller to close later: requests that already hold it finish,
   * and a route that brings the origin back gets a fresh pool.
   */
  detach (origin: string): Pool | undefined {
    const p = this.#pools.get(origin)
    this.#pools.delete(origin)
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
  /** Filled in with the time from dispatch to the upstream's response headers. */
  readonly timing?: UpstreamTiming | undefined
  /** Returned to the client as X-Request-Id (replacing one the upstream sent). */
  readonly requestId?: string | undefined
  /** Called once the response has been handed over completely (or failed after headers). */
  readonly onDone?: (statusCode: number, err?: unknown) => void
}

function hasBody (req: IncomingMessage): boolean {
  const cl = req.headers['content-length']
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined
}

/**
 * The request's life with undici's lowest-level interface (a dispatch
 * handler): no Promise, no AsyncResource and no stream.finished() listeners
 * per request, as Pool.stream() has; response headers go from undici's raw
 * buffers straight into Node's writeHead. Backpressure: when the client's
 * socket is full, undici stops reading the upstream until it drains.
 */
class ForwardHandler {
  readonly #res: ServerResponse
  readonly #f: ForwardRequest
  #status = 0
  #abort: ((err?: Error) => void) | undefined
  #resume: (() => void) | undefined
  #done = false

  constructor (res: ServerResponse, f: ForwardRequest) {
    this.#res = res
    this.#f = f
  }

  onConnect (abort: (err?: Error) => void): void {
    this.#abort = abort
    // The client went away before the answer was complete: stop the upstream request too.
    this.#res.once('close', () => { if (!this.#done) this.#abort?.() })
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true // 1xx: Node answers 100-continue itself
    this.#status = statusCode
    this.#resume = resume
    const f = this.#f
    if (f.timing !== undefined) f.timing.upstreamMs = performance.now() - f.timing.upstreamStart
    const out: string[] = []
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1')
      const lower = name.toLowerCase()
      if (RESPONSE_HOP_BY_HOP.has(lower) || (f.requestId !== undefined && lower === 'x-request-id')) continue
      out.push(name, rawHeaders[i + 1]!.toString('latin1'))
    }
    if (f.requestId !== undefined) out.push('x-request-id', f.requestId)
    if (this.#f.setCookies !== undefined) for (const c of this.#f.setCookies) out.push('set-cookie', c)
    this.#res.writeHead(statusCode, out)
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.#res.write(chunk)) return true
    this.#res.once('drain', this.#resume!)
    return false
  }

  onComplete (): void {
    this.#done = true
    this.#res.end()
    this.#f.onDone?.(this.#status)
  }

  onError (err: Error): void {
    if (this.#done) return
    this.#done = true
    if (!this.#res.headersSent) this.#f.onError(classifyUpstreamError(err), err)
    else this.#res.destroy()
    this.#f.onDone?.(this.#status === 0 ? 502 : this.#status, err)
  }

  onUpgrade (): void {
    this.onError(Object.assign(new Error('upgrade not supported on this path'), { code: 'UND_ERR_NOT_SUPPORTED' }))
  }
}

/** Forwards `req` upstream and streams the answer into `res`. Never throws. */
export function forward (req: IncomingMessage, res: ServerResponse, f: ForwardRequest): void {
  const handler = new ForwardHandler(res, f)
  if (f.timing !== undefined) f.timing.upstreamStart = performance.now()
  try {
    f.pool.dispatch({
      method: f.method as 'GET',
      path: f.path,
      headers: f.headers,
      body: hasBody(req) ? req : null,
    }, handler as unknown as Dispatcher.DispatchHandler)
  } catch (err) {
    handler.onError(err as Error)
  }
}
