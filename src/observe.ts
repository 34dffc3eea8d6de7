import type { IncomingMessage, ServerResponse } from 'node:http'
import { hostname } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import type { Decision, EndpointLabel, Metrics, RouteMetrics } from './metrics.js'
import type { QueryRedactor } from './redact.js'

/**
 * Every request on the proxy listener, fast path or Fastify, gets one
 * RequestRecord when it arrives (in the server's request listener). The
 * request path fills in what it learns (route, user, decision, upstream
 * time); when the response closes, one listener shared by all requests
 * counts it in the route's metrics and writes the access-log line.
 */

const RECORD = Symbol('gatehouse.request')

/** Incoming X-Request-Id values kept as they are: bounded, and nothing a log or header could be confused by. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:@+/=-]{1,128}$/

/** What forward() fills in: dispatch time and the time to the upstream's response headers. */
export interface UpstreamTiming {
  upstreamStart: number
  /** Milliseconds from dispatch to response headers; -1 while there are none. */
  upstreamMs: number
}

export class RequestRecord implements UpstreamTiming {
  readonly start = performance.now()
  /** The incoming X-Request-Id when sane, else '' until one is generated. */
  id: string
  route: RouteMetrics | undefined = undefined
  host: string | undefined = undefined
  user: string | undefined = undefined
  decision: Decision | undefined = undefined
  /** Free text for the log beside the decision (a policy's reason). */
  detail: string | undefined = undefined
  upstreamStart = 0
  upstreamMs = -1
  readonly observer: Observer
  /** The socket's peer, read on arrival (the socket may be gone when the response closes). */
  readonly remote: string

  constructor (observer: Observer, id: string, remote: string) {
    this.observer = observer
    this.id = id
    this.remote = remote
  }
}

/** The record of a request on the proxy listener (undefined for requests that never passed the listener, e.g. inject()). */
export function recordOf (req: IncomingMessage): RequestRecord | undefined {
  return (req as unknown as Record<symbol, RequestRecord | undefined>)[RECORD]
}

/**
 * The client's address: the socket's peer, or with `trustProxy` the last
 * X-Forwarded-For entry, the one the trusted proxy in front added (earlier
 * entries are whatever the client sent, so they cannot key a rate limit).
 */
export function clientAddress (req: IncomingMessage, trustProxy: boolean, socketAddress?: string): string {
  if (trustProxy) {
    let xff = req.headers['x-forwarded-for']
    if (Array.isArray(xff)) xff = xff[xff.length - 1]
    if (typeof xff === 'string' && xff !== '') {
      const last = xff.slice(xff.lastIndexOf(',') + 1).trim()
      if (last !== '') return last.slice(0, 64)
    }
  }
  // After the response closed the socket may be detached already: the caller kept its address.
  return socketAddress ?? req.socket?.remoteAddress ?? ''
}

const ENDPOINTS: ReadonlyMap<string, EndpointLabel> = new Map([
  ['/.gatehouse/login', 'gatehouse:login'],
  ['/.gatehouse/callback', 'gatehouse:callback'],
  ['/.gatehouse/logout', 'gatehouse:logout'],
  ['/.gatehouse/userinfo', 'gatehouse:userinfo'],
  ['/.gatehouse/backchannel-logout', 'gatehouse:backchannel-logout'],
  ['/.gatehouse/jwks', 'gatehouse:jwks'],
  ['/.gatehouse/auth', 'gatehouse:auth'],
])

/** The route label of a request no configured route served: one of the gateway's endpoints, or `none`. */
export function endpointLabel (url: string): EndpointLabel {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const known = ENDPOINTS.get(path)
  if (known !== undefined) return known
  const c = path.charCodeAt(1)
  return c === 46 /* . */ || c === 37 /* % */ ? 'gatehouse:other' : 'none'
}

export interface ObserverOptions {
  readonly metrics: Metrics
  readonly log: FastifyBaseLogger
  /** Write one access-log line per request. */
  readonly access: boolean
  /**
   * Where `log` writes, when it is the gateway's own pino logger: access
   * lines are then built here, in the same shape pino gives them, and
   * written straight to it (undefined: through `log.info`).
   */
  readonly sink?: { write (line: string): unknown } | undefined
  readonly redact: QueryRedactor
  readonly trustProxy: boolean
  /** Ids for requests that never reach Fastify (Fastify's own requests get theirs from genReqId). */
  readonly newId: () => string
  readonly host: (req: IncomingMessage) => string
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000

/** The shared 'close' listener: one function for every response, no closure per request. */
function onClose (this: ServerResponse): void {
  const req = this.req
  const rec = recordOf(req)
  if (rec === undefined) return
  try {
    rec.observer.finish(rec, req, this)
  } catch (err) {
    // Metrics and logging must never take the process down with them.
    rec.observer.failed(err)
  }
}

export class Observer {
  readonly #o: ObserverOptions

  constructor (o: ObserverOptions) { this.#o = o }

  /** Called first for every request on the proxy listener. */
  begin (req: IncomingMessage, res: ServerResponse): void {
    ;(req as unknown as Record<symbol, RequestRecord>)[RECORD] = this.record(req)
    res.once('close', onClose)
  }

  /** A new record for `req`; begin() keeps it with the request, an upgrade (which has no response object) holds it itself. */
  record (req: IncomingMessage): RequestRecord {
    const incoming = req.headers['x-request-id']
    return new RequestRecord(this, typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : '', req.socket.remoteAddress ?? '')
  }

  /**
   * Counts and logs a request answered on its socket (a WebSocket upgrade):
   * `status` is what was written (101 for a tunnel), undefined when the
   * client went away before any answer (499).
   */
  finishRaw (rec: RequestRecord, req: IncomingMessage, status: number | undefined): void {
    try {
      this.finish(rec, req, status === undefined ? { statusCode: 0, writableFinished: false, headersSent: false } : { statusCode: status, writableFinished: true, headersSent: true })
    } catch (err) {
      this.failed(err)
    }
  }

  /** The request's id: the incoming X-Request-Id when sane, else a new one (made once). */
  id (rec: RequestRecord, make: () => string = this.#o.newId): string {
    if (rec.id === '') rec.id = make()
    return rec.id
  }

  failed (err: unknown): void {
    this.#o.log.error({ err }, 'recording a request failed')
  }

  finish (rec: RequestRecord, req: IncomingMessage, res: Pick<ServerResponse, 'statusCode' | 'writableFinished' | 'headersSent'>): void {
    const ms = performance.now() - rec.start
    // A response the client did not wait for: 499 (nginx's "client closed request") when nothing was sent.
    const aborted = !res.writableFinished
    const status = aborted && !res.headersSent ? 499 : res.statusCode
    const url = req.url ?? ''
    const m = rec.route ?? this.#o.metrics.endpoint(endpointLabel(url))
    m.record(status, ms / 1000)
    if (rec.upstreamMs >= 0 && rec.route !== undefined) rec.route.upstream.observe(rec.upstreamMs / 1000)
    if (!this.#o.access) return
    const sink = this.#o.sink
    // Written directly: the level is checked here (pino checks it in log.info).
    if (sink !== undefined && !(this.#o.log as unknown as PinoLevels).isLevelEnabled('info')) return
    const d = rec.decision
    const colon = d === undefined ? -1 : d.indexOf(':')
    const line: AccessLine = {
      reqId: this.id(rec),
      method: req.method ?? '',
      host: rec.host ?? this.#o.host(req),
      url: this.#o.redact(url),
      route: m.label,
      status,
      durationMs: round3(ms),
      upstreamMs: rec.upstreamMs >= 0 ? round3(rec.upstreamMs) : undefined,
      user: rec.user,
      decision: d === undefined ? undefined : d.slice(0, colon),
      reason: d === undefined ? undefined : d.slice(colon + 1),
      detail: rec.detail,
      remoteAddress: clientAddress(req, this.#o.trustProxy, rec.remote),
      aborted: aborted ? true : undefined,
    }
    if (sink === undefined) this.#o.log.info(line, 'request')
    else sink.write(accessJson(line, Date.now()))
  }
}

/** The part of pino's logger the direct access line reads: whether `info` is on (the level may change on reload). */
interface PinoLevels { isLevelEnabled (level: string): boolean }

/** One access-log line's fields, in their order in the line. */
export interface AccessLine {
  readonly reqId: string
  readonly method: string
  readonly host: string
  readonly url: string
  readonly route: string
  readonly status: number
  readonly durationMs: number
  readonly upstreamMs: number | undefined
  readonly user: string | undefined
  readonly decision: string | undefined
  readonly reason: string | undefined
  readonly detail: string | undefined
  readonly remoteAddress: string
  readonly aborted: true | undefined
}

const str = JSON.stringify
/** pino's default base fields, as it writes them after `time`. */
const BASE = `"pid":${process.pid},"hostname":${str(hostname())}`

/**
 * The access-log line as pino writes `log.info(line, 'request')` with the
 * gateway's logger options (level, time, pid, hostname, the fields without
 * the undefined ones, msg), built directly: a third of the CPU of the
 * generic path, per request (docs/performance.md, "The access log").
 */
export function accessJson (l: AccessLine, time: number): string {
  let s = `{"level":30,"time":${time},${BASE},"reqId":${str(l.reqId)},"method":${str(l.method)},"host":${str(l.host)},"url":${str(l.url)},"route":${str(l.route)},"status":${l.status},"durationMs":${l.durationMs}`
  if (l.upstreamMs !== undefined) s += `,"upstreamMs":${l.upstreamMs}`
  if (l.user !== undefined) s += `,"user":${str(l.user)}`
  if (l.decision !== undefined) s += `,"decision":${str(l.decision)},"reason":${str(l.reason)}`
  if (l.detail !== undefined) s += `,"detail":${str(l.detail)}`
  s += `,"remoteAddress":${str(l.remoteAddress)}`
  if (l.aborted === true) s += ',"aborted":true'
  return s + ',"msg":"request"}\n'
}
