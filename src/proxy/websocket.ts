import { request as httpRequest, STATUS_CODES, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type RequestOptions, type ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { Duplex } from 'node:stream'
import type { CompiledRoute, Gateway, GatewayRef } from '../context.js'
import { GatewayError, UPSTREAM_FAILURE_CODES } from '../errors.js'
import { recordOf, type RequestRecord } from '../observe.js'
import { errorResponse, writeErrorPage } from '../pages.js'
import { isGatewayPath, resolve, type Action } from '../pipeline/decide.js'
import { requestFacts } from '../pipeline/facts.js'
import { decideFacts, recordDecision, sessionEffects, writeLogs, type Decided } from '../pipeline/run.js'
import { attachAssertion } from './assertion.js'

/**
 * The WebSocket entry: the proxy port's HTTP `upgrade` requests. Each is
 * decided once like any request (pipeline/run.ts: route, session, refresh,
 * policy); a `forward` Action opens a connection to the route's upstream,
 * sends it the upgrade with the decided path and headers (identity headers
 * and Bearer set, spoofed ones and Gatehouse's cookies stripped), and on
 * its 101 joins the two sockets. Every other answer is written on the socket
 * as a plain HTTP/1.1 response with `Connection: close`: a WebSocket client
 * cannot follow a redirect, so an upgrade that would start a login gets 401.
 *
 * No socket outlives its partner: the end, error or close of one ends the
 * other, and both are destroyed CLOSE_GRACE_MS later at the latest. The
 * handshake is bounded by `upstream.connectTimeout` and `upstream.timeout`.
 */

/** How long a socket may stay after its partner closed (to flush the last frames). */
const CLOSE_GRACE_MS = 5_000

/** Handshake headers buildUpstreamHeaders leaves out or may drop (listed in Connection): set again from the request. */
const HANDSHAKE_HEADERS = ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions'] as const

/** Headers of the upstream's 101 the client does not get: the gateway sets its own request id. */
const UPGRADED_DROP: ReadonlySet<string> = new Set(['x-request-id'])
/** Headers of a non-101 answer the client does not get: those of the upstream connection (Node has read the body), and the request id. */
const NOT_UPGRADED_DROP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'x-request-id'])

/** At most this much may arrive from the client before the upstream's 101 (a client must wait for it: RFC 6455 4.1). */
const EARLY_LIMIT = 64 * 1024

/** 16 random bytes in base64 (RFC 6455 4.1). */
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/

/** Whether a comma-separated header contains `token` (case-insensitive). Pure. */
export function hasToken (value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    if (part.trim().toLowerCase() === token) return true
  }
  return false
}

export interface UpgradeProblem {
  /** 400, or 426 for a version other than 13. */
  readonly status: number
  readonly message: string
}

/** What is wrong with a WebSocket opening handshake (RFC 6455 4.2.1), or undefined. Pure. */
export function upgradeProblem (method: string | undefined, httpVersion: string, headers: IncomingHttpHeaders): UpgradeProblem | undefined {
  const bad = (message: string): UpgradeProblem => ({ status: 400, message: `The WebSocket upgrade cannot be accepted: ${message}.` })
  if (!hasToken(headers.upgrade, 'websocket')) return bad('only Upgrade: websocket is accepted')
  if (!hasToken(headers.connection, 'upgrade')) return bad('Connection must contain upgrade')
  if (method !== 'GET') return bad('the request must be a GET')
  if (httpVersion !== '1.1') return bad('the request must be HTTP/1.1')
  const key = headers['sec-websocket-key']
  if (key === undefined) return bad('Sec-WebSocket-Key is missing')
  if (!KEY.test(key)) return bad('Sec-WebSocket-Key is not 16 bytes in base64')
  const version = headers['sec-websocket-version']
  if (version === undefined) return bad('Sec-WebSocket-Version is missing')
  if (version !== '13') return { status: 426, message: 'The WebSocket upgrade cannot be accepted: only Sec-WebSocket-Version 13 is supported.' }
  return undefined
}

/** Where a route's upgrades connect. */
interface UpstreamTarget {
  readonly secure: boolean
  readonly host: string
  readonly port: number
  /** SNI: the host name (none for an address). */
  readonly servername: string | undefined
}

const targets = new WeakMap<CompiledRoute, UpstreamTarget>()

/** The upstream origin of a route, read once per compiled route. */
function upstreamTarget (route: CompiledRoute): UpstreamTarget {
  let t = targets.get(route)
  if (t === undefined) {
    const u = new URL(route.upstream)
    const secure = u.protocol === 'https:'
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    t = { secure, host, port: u.port !== '' ? Number(u.port) : secure ? 443 : 80, servername: secure && isIP(host) === 0 ? host : undefined }
    targets.set(route, t)
  }
  return t
}

/** A response head in HTTP/1.1 wire form. */
function responseHead (status: number, reason: string, headers: readonly (readonly [string, string])[]): Buffer {
  let s = `HTTP/1.1 ${status} ${reason}\r\n`
  for (const [k, v] of headers) s += `${k}: ${v}\r\n`
  return Buffer.from(s + '\r\n', 'latin1')
}

/** The upstream's answer headers for the client: without `drop` (lower-case names); the request id and the session's cookies added. */
function clientHeaders (raw: readonly string[], drop: ReadonlySet<string>, requestId: string, setCookies: readonly string[] | undefined): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i < raw.length; i += 2) {
    if (!drop.has(raw[i]!.toLowerCase())) out.push([raw[i]!, raw[i + 1]!])
  }
  out.push(['x-request-id', requestId])
  if (setCookies !== undefined) for (const c of setCookies) out.push(['set-cookie', c])
  return out
}

/** Header pairs of a Node headers object (arrays become repeated lines). */
function pairs (headers: OutgoingHttpHeaders): [string, string][] {
  const out: [string, string][] = []
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) out.push([k, x])
    else out.push([k, String(v)])
  }
  return out
}

/**
 * Copies what `from` reads to `to`, pausing `from` while `to` is full, and
 * ends `to` when `from` ends. What pipe() does, with fewer listeners and
 * closures per tunnel (each idle tunnel holds two of these).
 */
function relay (from: Socket, to: Socket): void {
  const resume = (): void => { from.resume() }
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause()
      to.once('drain', resume)
    }
  })
  from.once('end', () => { to.end() })
  from.resume()
}

/** An 'error' listener: the socket is destroyed (it closes with its partner). Not a closure, so it holds nothing. */
function destroySelf (this: Duplex): void { this.destroy() }

/** One upgrade being handled: its request and socket, and the record it is counted and logged with. */
interface Upgrade {
  readonly gw: Gateway
  readonly req: IncomingMessage
  readonly socket: Duplex
  readonly rec: RequestRecord
  readonly requestId: string
  /** Stops reading the client and returns what it sent after its request (for the upstream). */
  readonly takeEarly: () => Buffer[]
  /** Counts and logs the upgrade, once: the status written on the socket (undefined: the client went away first). */
  readonly finish: (status: number | undefined) => void
}

/**
 * Answers on the raw socket and closes it: the head with `Connection: close`,
 * then the body. Incoming bytes are read and dropped meanwhile (unread data
 * would turn the close into a reset that can lose the answer).
 */
function answer (u: Upgrade, status: number, headers: OutgoingHttpHeaders, body: string): void {
  const { socket } = u
  if (socket.destroyed) return
  u.finish(status)
  const head = pairs({ ...headers, connection: 'close' })
  socket.resume()
  socket.end(Buffer.concat([responseHead(status, STATUS_CODES[status] ?? 'Error', head), Buffer.from(body, 'utf8')]))
  setTimeout(() => { socket.destroy() }, CLOSE_GRACE_MS).unref()
}

/** Answers with one of the catalog's error pages. */
function answerPage (u: Upgrade, p: { code: string, status?: number | undefined, message?: string | undefined, mark?: string, setCookies?: readonly string[] | undefined, headers?: OutgoingHttpHeaders }): void {
  const r = errorResponse({ code: p.code, correlationId: u.requestId, mark: p.mark ?? p.code, setCookies: p.setCookies, ...(p.status !== undefined ? { status: p.status } : {}), ...(p.message !== undefined ? { message: p.message } : {}) })
  answer(u, r.status, { ...r.headers, ...p.headers }, r.html)
}

const UNAUTHENTICATED_BODY = JSON.stringify({ error: 'unauthenticated', message: 'sign in required', login: '/.gatehouse/login' })

/** The 401 an API request gets (proxy/plugin.ts), on the socket. */
function answerUnauthenticated (u: Upgrade, setCookies: readonly string[] | undefined): void {
  const headers: OutgoingHttpHeaders = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(UNAUTHENTICATED_BODY),
    'www-authenticate': 'Bearer realm="gatehouse"',
    'x-gatehouse-response': 'unauthenticated',
    'cache-control': 'no-store',
    'x-request-id': u.requestId,
  }
  if (setCookies !== undefined) headers['set-cookie'] = [...setCookies]
  answer(u, 401, headers, UNAUTHENTICATED_BODY)
}

export interface WebSocketEntry {
  /** The proxy server's `upgrade` listener. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
  /**
   * For the request listener: a request with `Upgrade: websocket` that is no
   * upgrade (its Connection does not name upgrade) gets 400 instead of being
   * forwarded as a plain GET. Returns whether it answered.
   */
  readonly refuseStray: (req: IncomingMessage, res: ServerResponse) => boolean
  /** Destroys every socket of a handshake or tunnel (the gateway closes). */
  readonly closeAll: () => void
}

/**
 * The WebSocket entry on `ref`'s gateway. `ready()` is false while the
 * server closes: upgrades are then dropped. Each upgrade is counted in
 * `gatehouse_http_requests_total` (a tunnel as 1xx) and gets an access-log
 * line when it is answered.
 */
export function websocketEntry (ref: GatewayRef, opts: { readonly ready: () => boolean }): WebSocketEntry {
  /** Sockets of handshakes and tunnels, client and upstream side. */
  const live = new Set<Duplex>()
  const track = (s: Duplex): void => {
    live.add(s)
    s.once('close', () => { live.delete(s) })
  }

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', destroySelf)
    track(socket)
    if (!opts.ready()) { socket.destroy(); return }
    // The context in force when the upgrade arrived (a reload swaps ref.current).
    const gw = ref.current
    // Read while the handshake runs, so that a client going away is noticed
    // (and its upstream connection closed); what it sends early is kept for the upstream.
    const early: Buffer[] = head.length > 0 ? [head] : []
    let earlySize = head.length
    const collect = (c: Buffer): void => {
      earlySize += c.length
      if (earlySize > EARLY_LIMIT) socket.destroy()
      else early.push(c)
    }
    const gone = (): void => { socket.destroy() }
    socket.on('data', collect)
    socket.once('end', gone)
    const rec = gw.observer.record(req)
    let finished = false
    const u: Upgrade = {
      gw,
      req,
      socket,
      rec,
      requestId: gw.observer.id(rec, gw.newRequestId),
      takeEarly: () => {
        socket.off('data', collect)
        socket.off('end', gone)
        socket.pause()
        return early
      },
      finish: (status) => {
        if (finished) return
        finished = true
        socket.off('close', onClose)
        gw.observer.finishRaw(rec, req, status)
      },
    }
    // Removed once answered: an open tunnel keeps nothing of its handshake (the request, its cookies).
    const onClose = (): void => { u.finish(undefined) }
    socket.once('close', onClose)
    try {
      start(u)
    } catch (err) {
      failed(u, err)
    }
  }

  /** Checks the handshake, refuses what needs no decision, and has the rest decided. */
  const start = (u: Upgrade): void => {
    const { gw, req } = u
    const problem = upgradeProblem(req.method, req.httpVersion, req.headers)
    if (problem !== undefined) {
      gw.metrics.websocket('bad_request')
      gw.log.debug({ reqId: u.requestId, reason: problem.message }, 'websocket upgrade refused')
      answerPage(u, { code: 'GH_WEBSOCKET_BAD_UPGRADE', status: problem.status, message: problem.message, ...(problem.status === 426 ? { headers: { 'sec-websocket-version': '13' } } : {}) })
      return
    }
    const facts = requestFacts(req, gw.config.trustProxy)
    // Gatehouse's own endpoints take no upgrades; a route that says websocket: false neither.
    if (facts.path.charCodeAt(0) !== 47 || isGatewayPath(facts.path)) {
      gw.metrics.websocket('refused')
      answerPage(u, { code: facts.path.charCodeAt(0) !== 47 ? 'GH_BAD_PATH' : 'GH_NOT_FOUND' })
      return
    }
    const target = resolve(gw.routes, facts)
    if (target.kind === 'route' && !target.route.websocket) {
      u.rec.route = target.route.metrics
      u.rec.host = facts.host
      gw.metrics.websocket('refused')
      answerPage(u, { code: 'GH_WEBSOCKET_REFUSED' })
      return
    }
    decideFacts(gw, facts, u.rec).then(async (d) => {
      if (u.socket.destroyed) return
      await execute(u, d)
    }).catch((err: unknown) => { failed(u, err) })
  }

  /** Carries out a decided upgrade. Throws what the session store throws. */
  const execute = async (u: Upgrade, d: Decided): Promise<void> => {
    const { gw, action } = d
    writeLogs(gw.log, action.logs, { reqId: u.requestId })
    const setCookies = await sessionEffects(d)
    if (action.kind === 'forward') {
      recordDecision(d)
      tunnel(u, action, setCookies)
      return
    }
    gw.metrics.websocket('refused')
    respond(u, d, action, setCookies)
  }

  /** Opens the upgrade at the upstream; joins the sockets on its 101. */
  const tunnel = (u: Upgrade, action: Extract<Action, { kind: 'forward' }>, setCookies: readonly string[] | undefined): void => {
    const { gw, req, socket, rec, requestId } = u
    const to = upstreamTarget(action.route)
    const headers: OutgoingHttpHeaders = action.headers
    for (const name of HANDSHAKE_HEADERS) {
      const v = req.headers[name]
      if (v !== undefined) headers[name] = v
    }
    headers.connection = 'Upgrade'
    headers.upgrade = 'websocket'
    headers['x-request-id'] = requestId
    if (action.assertion) attachAssertion(gw, action, action.headers, gw.now())
    const { connectTimeout, timeout } = gw.config.upstream
    let settled = false
    let timer: NodeJS.Timeout | undefined
    let up: ClientRequest | undefined
    const fail = (failure: 'unreachable' | 'timeout' | 'aborted', err?: unknown): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      up?.destroy()
      gw.metrics.upstreamError(failure)
      if (failure === 'aborted') return
      gw.metrics.websocket('upstream_failed')
      const code = UPSTREAM_FAILURE_CODES[failure]!
      gw.log.warn({ reqId: requestId, upstream: action.route.upstream, failure: code, err: (err as Error)?.message, code: (err as { code?: string })?.code }, 'upstream failed')
      answerPage(u, { code, mark: failure, setCookies })
    }
    const onClientGone = (): void => { fail('aborted') }
    socket.once('close', onClientGone)
    const options: RequestOptions & { servername?: string, ALPNProtocols?: string[] } = {
      host: to.host, port: to.port, method: 'GET', path: action.path, headers, agent: false, setHost: false,
    }
    if (to.secure) {
      options.ALPNProtocols = ['http/1.1']
      if (to.servername !== undefined) options.servername = to.servername
    }
    rec.upstreamStart = performance.now()
    try {
      up = (to.secure ? httpsRequest : httpRequest)(options)
    } catch (err) {
      // A header value Node refuses to write (it cannot come from the client: theirs were parsed by Node).
      fail('unreachable', err)
      return
    }
    timer = setTimeout(() => { fail('timeout', new Error('connect timeout')) }, connectTimeout)
    up.once('socket', (s: Socket) => {
      track(s)
      s.once(to.secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer)
        if (!settled) timer = setTimeout(() => { fail('timeout', new Error('no answer to the upgrade')) }, timeout)
      })
    })
    up.on('error', (err) => { fail('unreachable', err) })
    /** The handshake is over with `result`; false when it already was. */
    const settle = (result: 'upstream_refused' | 'tunnelled', status: number): boolean => {
      if (settled) return false
      settled = true
      clearTimeout(timer)
      socket.off('close', onClientGone)
      gw.metrics.websocket(result)
      rec.upstreamMs = performance.now() - rec.upstreamStart
      u.finish(status)
      return true
    }
    up.once('response', (res) => {
      // Not 101: the upstream's answer goes to the client as it is, and both close.
      const status = res.statusCode ?? 502
      if (!settle('upstream_refused', status)) { res.destroy(); return }
      const out = clientHeaders(res.rawHeaders, NOT_UPGRADED_DROP, requestId, setCookies)
      out.push(['connection', 'close'])
      const done = (): void => { up?.destroy(); socket.destroy() }
      socket.once('close', done)
      res.once('error', done)
      res.once('end', () => {
        up?.destroy()
        setTimeout(() => { socket.destroy() }, CLOSE_GRACE_MS).unref()
      })
      socket.resume()
      socket.write(responseHead(status, res.statusMessage ?? '', out))
      res.pipe(socket)
    })
    up.once('upgrade', (res, upSocket: Socket, upHead: Buffer) => {
      if (!settle('tunnelled', 101)) { upSocket.destroy(); return }
      socket.write(responseHead(101, res.statusMessage || 'Switching Protocols', clientHeaders(res.rawHeaders, UPGRADED_DROP, requestId, setCookies)))
      if (upHead.length > 0) socket.write(upHead)
      for (const c of u.takeEarly()) upSocket.write(c)
      join(gw, socket as Socket, upSocket)
    })
    up.end()
  }

  /** Pipes both ways; the end, error or close of either ends the other, and both are gone CLOSE_GRACE_MS later at most. */
  const join = (gw: Gateway, a: Socket, b: Socket): void => {
    gw.metrics.websocketsOpen++
    for (const s of [a, b]) {
      s.setTimeout(0)
      s.setNoDelay(true)
    }
    let grace: NodeJS.Timeout | undefined
    let open = 2
    const shut = (): void => {
      grace ??= setTimeout(() => { a.destroy(); b.destroy() }, CLOSE_GRACE_MS).unref()
    }
    const pair = (s: Socket, other: Socket): void => {
      s.on('error', () => { other.destroy() })
      s.once('end', shut)
      s.once('close', () => {
        other.end()
        shut()
        if (--open === 0) {
          clearTimeout(grace)
          gw.metrics.websocketsOpen--
        }
      })
    }
    pair(a, b)
    pair(b, a)
    relay(a, b)
    relay(b, a)
  }

  /** Answers an Action other than `forward` on the socket. */
  const respond = (u: Upgrade, d: Decided, action: Exclude<Action, { kind: 'forward' }>, setCookies: readonly string[] | undefined): void => {
    switch (action.kind) {
      case 'login':
      case 'renew':
        // A WebSocket client cannot follow a redirect to sign in.
        recordDecision(d, { outcome: 'unauthenticated', decision: 'deny:unauthenticated' })
        answerUnauthenticated(u, setCookies)
        return
      case 'unauthenticated':
        recordDecision(d)
        answerUnauthenticated(u, setCookies)
        return
      case 'forbidden':
        recordDecision(d)
        answerPage(u, { code: 'GH_FORBIDDEN', setCookies })
        return
      case 'page':
        recordDecision(d)
        answerPage(u, { code: action.code, status: action.status, message: action.message, setCookies, ...(action.retryAfter !== undefined ? { headers: { 'retry-after': String(action.retryAfter) } } : {}) })
        return
      case 'refresh':
        // decideFacts() always completes a refresh.
        throw new Error('a refresh Action reached the WebSocket entry')
    }
  }

  return {
    upgrade,
    refuseStray: (req, res) => {
      if (!hasToken(req.headers.upgrade, 'websocket')) return false
      const gw = ref.current
      const rec = recordOf(req)
      gw.metrics.websocket('bad_request')
      res.shouldKeepAlive = false
      writeErrorPage(res, {
        code: 'GH_WEBSOCKET_BAD_UPGRADE',
        message: 'The WebSocket upgrade cannot be accepted: Connection must contain upgrade.',
        mark: 'GH_WEBSOCKET_BAD_UPGRADE',
        correlationId: rec !== undefined ? gw.observer.id(rec, gw.newRequestId) : gw.newRequestId(),
      })
      return true
    },
    closeAll: () => {
      for (const s of live) s.destroy()
      live.clear()
    },
  }
}

/** The session store failed while deciding (503), or a bug (500, logged): answered on the socket. */
function failed (u: Upgrade, err: unknown): void {
  const { gw } = u
  gw.metrics.websocket('refused')
  if (err instanceof GatewayError) {
    gw.log.warn({ reqId: u.requestId, code: err.code, err: err.message }, 'websocket upgrade failed')
    answerPage(u, { code: err.code, status: err.status, ...(err.expose ? { message: err.message } : {}), ...(err.status === 503 ? { headers: { 'retry-after': '5' } } : {}) })
    return
  }
  gw.log.error({ reqId: u.requestId, err }, 'unhandled error')
  answerPage(u, { code: 'GH_ERROR' })
}
