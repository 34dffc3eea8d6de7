import { randomBytes } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import type { Duplex } from 'node:stream'
import { buildAdmin } from './admin/server.js'
import { generateAssertionKey, loadAssertionKey, type AssertionKey } from './auth/assertion.js'
import { registerCallback } from './auth/callback.js'
import { LOGIN_TTL_MS } from './auth/login-state.js'
import { registerLogin } from './auth/login.js'
import { registerLogout } from './auth/logout.js'
import { Refresher } from './auth/refresh.js'
import type { Config } from './config/types.js'
import type { Gateway, GatewayRef } from './context.js'
import { startDraining } from './drain.js'
import { buildGeneration, closeRetired, reconcile, retire, type Generation, type Retired } from './gateway.js'
import { Metrics } from './metrics.js'
import { Observer, recordOf } from './observe.js'
import { queryRedactor } from './redact.js'
import { loggerOptions, stdoutDestination } from './logging.js'
import { markGatewayResponse, sendErrorPage } from './pages.js'
import { requestHost } from './pipeline/facts.js'
import { hasRequestHooks, proxyListener, proxyPlugin } from './proxy/plugin.js'
import { forwardAuthListener, forwardAuthPlugin } from './forward-auth/plugin.js'
import { websocketEntry, type WebSocketEntry } from './proxy/websocket.js'
import { restartChanges, type ReloadResult } from './reload.js'
import { createProxyServer, updateProxyTls } from './server.js'
import type { CookieOptions, SerializeCookie } from './session/cookies.js'
import { MemoryStore } from './session/memory-store.js'
import { RedisConnection, RedisStore, type StoreLogger } from './session/redis.js'
import { RedisRefreshLock } from './session/redis-refresh.js'
import { MemoryRevocations, RedisRevocations, type Revocations } from './session/revocations.js'
import { CookieStore, type RefreshLock, type SessionStore } from './session/store.js'
import { GatewayError } from './errors.js'
import { registerBackchannelLogout } from './auth/backchannel.js'
import { registerHandoff } from './auth/handoff.js'

export const CALLBACK_PATH = '/.gatehouse/callback'

export interface AppDeps {
  /** Epoch-ms clock; tests inject one to move time. */
  now?: () => number
  /** A pino-compatible logger instance, or logger options for Fastify. */
  logger?: FastifyBaseLogger | boolean | object
  /** Where the production logger (with its redaction) writes; tests read what would be logged. */
  logStream?: { write (line: string): void }
  /** Overrides the store chosen by `session.store` (tests). */
  store?: SessionStore
  /** Wraps the in-process revocation records (cluster workers share theirs); not used with Redis. */
  wrapRevocations?: (local: Revocations) => Revocations
  /** The assertion key (private JWK text) when the config gives none: cluster workers get the primary's. Default: generated. */
  assertionKey?: string
}

interface SessionBackend {
  readonly store: SessionStore
  readonly revocations: Revocations
  /** Refreshes of one session across replicas: through Redis whenever `session.redis` is configured. */
  readonly refreshLock: RefreshLock | undefined
  close (): Promise<void>
}

/**
 * The session store `session.store` names, and where revocation records and
 * seen logout tokens live: in Redis whenever `session.redis` is configured
 * (so every replica sees every logout), else in memory. With Redis, refreshes
 * take a lock there too (the redis store's own, or for the cookie store a
 * lock that hands the result on).
 */
function sessionBackend (config: Config, log: StoreLogger, override: SessionStore | undefined, monotonic: () => number): SessionBackend {
  const s = config.session
  const redis = s.redis !== undefined ? new RedisConnection(s.redis, log) : undefined
  let store = override
  if (store === undefined) {
    if (s.store === 'memory') store = new MemoryStore({ maxSessions: s.memory.maxSessions, idleTimeout: s.idleTimeout, absoluteTimeout: s.absoluteTimeout })
    else if (s.store === 'redis') store = new RedisStore(redis!, { keyPrefix: s.redis!.keyPrefix, idleTimeout: s.idleTimeout, absoluteTimeout: s.absoluteTimeout, localCacheTtl: s.redis!.localCacheTtl, now: monotonic, log })
    else store = new CookieStore()
  }
  const revocations = redis !== undefined ? new RedisRevocations(redis, s.redis!.keyPrefix) : new MemoryRevocations()
  const owned = store
  const refreshLock = store instanceof RedisStore ? store : redis !== undefined && store.kind === 'cookie' ? new RedisRefreshLock(redis, s.redis!.keyPrefix) : undefined
  return {
    store,
    revocations,
    refreshLock,
    close: async () => {
      await owned.close()
      await redis?.close()
    },
  }
}

export interface GatehouseApp {
  /** The proxy listener's Fastify instance (not listening). */
  readonly app: FastifyInstance
  /** The admin listener's Fastify instance, when `admin` is configured. */
  readonly admin: FastifyInstance | undefined
  /** The gateway context in force (a reload replaces it). */
  readonly gateway: Gateway
  /** Starts provider discovery (in the background; readiness follows it). */
  readonly startProviders: () => Promise<void>
  /**
   * Replaces the running configuration for new requests (see reload.ts):
   * refused, with the reasons, when a field that needs a restart changed.
   * Requests in flight finish on the context they started with; what the
   * new config no longer uses is closed `shutdownGrace` later.
   */
  readonly reload: (config: Config) => Promise<ReloadResult>
  /** Starts a shutdown drain: /readyz answers 503, keep-alive ends (Connection: close); the proxy still serves. */
  readonly beginDrain: () => void
  /** Stops listeners, timers and upstream pools. */
  readonly close: () => Promise<void>
}

/** A reload waits at most this long for new providers' discovery before it swaps (they keep retrying after). */
const PROVIDER_WAIT_MS = 5_000

/**
 * Builds Gatehouse from a validated config: the proxy app, the admin app and
 * the shared state. Never listens itself (the CLI and tests do).
 */
export async function buildApp (config: Config, deps: AppDeps = {}): Promise<GatehouseApp> {
  const bootId = randomBytes(4).toString('hex')
  let seq = 0
  const newRequestId = (): string => `${bootId}-${(++seq).toString(36)}`
  // The gateway's own logger writes to this sink (the access log too, directly: see observe.ts).
  const sink = deps.logStream !== undefined || deps.logger === undefined ? deps.logStream ?? stdoutDestination(config.log.flushInterval) : undefined
  const logger = sink !== undefined ? { ...loggerOptions(config), stream: sink } : deps.logger
  // Requests the fast path serves never get a Fastify id: theirs are a series of their own.
  let fastSeq = 0
  const newFastRequestId = (): string => `${bootId}_${(++fastSeq).toString(36)}`
  // Metrics and the access log see every request on the proxy listener (set once the logger exists).
  let observer: Observer | undefined
  // The proxy entry decides requests in the server's listener (see proxy/plugin.ts) once Fastify is ready, until it closes.
  let serving = false
  let direct = false
  let listener: ReturnType<typeof proxyListener> | undefined
  let authListener: ReturnType<typeof forwardAuthListener> | undefined
  let websockets: WebSocketEntry | undefined
  const app = Fastify({
    ...(typeof logger === 'object' && logger !== null && 'child' in logger ? { loggerInstance: logger as FastifyBaseLogger } : { logger: logger as boolean | object }),
    logController: new LogController({ disableRequestLogging: !config.log.requests }),
    genReqId: (req: IncomingMessage) => {
      const rec = recordOf(req)
      return rec !== undefined && observer !== undefined ? observer.id(rec, newRequestId) : newRequestId()
    },
    trustProxy: config.trustProxy,
    serverFactory: (fastify: (req: IncomingMessage, res: ServerResponse) => void) => {
      const server = createProxyServer(config, (req, res) => {
        observer?.begin(req, res)
        if (req.headers.upgrade !== undefined && websockets?.refuseStray(req, res) === true) return
        if (authListener?.(req, res, fastify) === true) return
        if (listener !== undefined) listener(req, res, fastify)
        else fastify(req, res)
      })
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (websockets !== undefined) websockets.upgrade(req, socket, head)
        else socket.destroy()
      })
      return server
    },
    // A URL the router cannot decode (an invalid percent-escape) gets the
    // same page as every other refused path.
    frameworkErrors: (err: { code?: string }, request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
      const bad = err.code === 'FST_ERR_BAD_URL'
      return sendErrorPage(reply, { ...(bad ? { message: 'The request path cannot be accepted: the path has an invalid percent-escape.' } : {}), correlationId: request.id, code: bad ? 'GH_BAD_PATH' : 'GH_BAD_REQUEST' })
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  } as FastifyHttpOptions<Server>) as unknown as FastifyInstance
  // Closing: every request goes through Fastify again, which answers 503.
  app.addHook('onReady', async () => {
    // Request logging and request hooks want every request to pass through Fastify (it is still decided once).
    direct = !config.log.requests && !hasRequestHooks(app)
    app.log.debug({ direct }, 'proxy listener forwards directly')
    serving = true
  })
  app.addHook('preClose', async () => { serving = false })
  await app.register(fastifyCookie, { hook: false })
  const serialize: SerializeCookie = (name: string, value: string, options: CookieOptions) => app.serializeCookie(name, value, options)

  const log = app.log
  const now = deps.now ?? Date.now
  const metrics = new Metrics({ routes: config.routes.map((r) => r.name ?? String(r.index)) })
  observer = new Observer({
    metrics,
    log,
    access: config.log.access,
    sink,
    redact: queryRedactor(config.log.redactQueryParams),
    trustProxy: config.trustProxy,
    newId: newFastRequestId,
    host: (req) => requestHost(req.headers, config.trustProxy),
  })
  // The local session cache's TTL runs on a monotonic clock, unless a test moves time: a wall clock set back must not lengthen it.
  const backend = sessionBackend(config, log, deps.store, deps.now ?? (() => performance.now()))
  const store = backend.store
  const revocations = backend.revocations.kind === 'memory' && deps.wrapRevocations !== undefined ? deps.wrapRevocations(backend.revocations) : backend.revocations
  let generatedKey: AssertionKey | undefined
  const shared = {
    log, now, metrics, store, revocations, serialize, newRequestId,
    observer,
    // Refresh timing follows reloads: read from the generation in service.
    refresher: new Refresher(metrics, {
      get refreshBefore () { return ref.current.config.session.refreshBefore },
      get clockSkew () { return ref.current.config.session.clockSkew },
    }, backend.refreshLock),
    consumedStates: new LRUCache<string, true>({ max: 100_000, ttl: LOGIN_TTL_MS }),
    callbackPath: CALLBACK_PATH,
    assertionKey: () => {
      generatedKey ??= deps.assertionKey !== undefined ? loadAssertionKey(deps.assertionKey) : generateAssertionKey()
      return generatedKey
    },
  }
  let generation: Generation = await buildGeneration(config, shared)
  // Every request reads ref.current once at its start; a reload assigns it.
  const ref: { current: Gateway } = { current: generation.gateway }

  // Gateway endpoints: form bodies (form_post callbacks, logout forms) only.
  // A repeated field becomes an array, so that handlers can refuse repeats
  // instead of silently reading one copy.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_req, body, done) => {
    const fields: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>
    for (const [name, value] of new URLSearchParams(body as string)) {
      const had = fields[name]
      fields[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]
    }
    done(null, fields)
  })
  // Set before any route or plugin is registered: encapsulated contexts (the
  // proxy plugin) take the handler in force when they are registered.
  app.setErrorHandler((err: { statusCode?: number, code?: string, message: string }, request, reply) => {
    if (err instanceof GatewayError) {
      // A dependency is down (the session store): say so, and when to retry.
      request.log.warn({ code: err.code, err: err.message }, 'request failed')
      if (err.status === 503) reply.header('retry-after', '5')
      return sendErrorPage(reply, { status: err.status, ...(err.expose ? { message: err.message } : {}), correlationId: request.id, code: err.code })
    }
    // Client faults (bad URL, body too large, bad content type) keep their 4xx;
    // anything else is our bug: log it, show a correlation id, never a stack.
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (status >= 500) request.log.error({ err }, 'unhandled error')
    else request.log.debug({ code: err.code, err: err.message }, 'bad request')
    return sendErrorPage(reply, { status, title: status >= 500 ? 'Internal error' : 'Bad request', ...(status < 500 ? { message: err.message } : {}), correlationId: request.id, code: err.code ?? 'GH_ERROR' })
  })
  registerLogin(ref, app)
  registerCallback(ref, app)
  registerLogout(ref, app)
  registerBackchannelLogout(ref, app)
  registerHandoff(ref, app)
  const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply => sendErrorPage(reply, { correlationId: request.id, code: 'GH_NOT_FOUND' })
  // The public keys of the config in force: private_key_jwt and the identity assertion (404 while neither is used).
  app.get('/.gatehouse/jwks', async (request, reply) => {
    const body = generation.jwks
    return body === undefined ? notFound(request, reply) : markGatewayResponse(reply, 'jwks').type('application/jwk-set+json').send(body)
  })
  app.all('/.gatehouse/*', async (request, reply) => notFound(request, reply))
  await app.register(forwardAuthPlugin, { ref })
  await app.register(proxyPlugin, { ref })
  listener = proxyListener(ref, { ready: () => serving, direct: () => direct })
  authListener = forwardAuthListener(ref, { ready: () => serving, direct: () => direct })
  websockets = websocketEntry(ref, { ready: () => serving })
  // Tunnels are no requests: server.close() would wait for them.
  app.addHook('preClose', async () => { websockets?.closeAll() })

  let draining = false
  let stopDraining: (() => void) | undefined
  const admin = config.admin !== undefined ? buildAdmin(ref, () => draining) : undefined
  metrics.gauge('gatehouse_providers_ready', 'Providers whose discovery and keys are loaded.', () => [...ref.current.providers.values()].filter((p) => p.ready).length)

  // What reloads took out of service, closed after a grace (or at close()).
  const retiring = new Map<Retired, NodeJS.Timeout>()
  let reloads: Promise<unknown> = Promise.resolve()
  const reload = async (next: Config): Promise<ReloadResult> => {
    const prev = generation
    const refused = restartChanges(prev.gateway.config, next)
    if (refused.length > 0) return { ok: false, refused }
    const built = await buildGeneration(next, shared, prev)
    const fresh = [...built.gateway.providers.values()].filter((p) => prev.gateway.providers.get(p.id) !== p)
    if (fresh.length > 0) {
      // New or changed providers: give their discovery a moment, so logins
      // do not fail right after the swap; they keep retrying after that.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.all(fresh.map(async (p) => p.start())), new Promise((resolve) => { timer = setTimeout(resolve, PROVIDER_WAIT_MS) })])
      clearTimeout(timer)
    }
    generation = built
    ref.current = built.gateway
    if (next.log.level !== prev.gateway.config.log.level) app.log.level = next.log.level
    updateProxyTls(app.server, prev.gateway.config, next, app.log)
    const retired = retire(prev, built)
    const timer = setTimeout(() => { retiring.delete(retired); void closeRetired(retired) }, next.shutdownGrace)
    timer.unref()
    retiring.set(retired, timer)
    return {
      ok: true,
      providers: reconcile(prev.providerKeys, built.providerKeys),
      origins: reconcile(prev.originKeys, built.originKeys),
      poolsReplaced: built.pools !== prev.pools,
    }
  }

  return {
    app,
    admin,
    get gateway () { return ref.current },
    startProviders: async () => { await Promise.all([...ref.current.providers.values()].map(async (p) => p.start())) },
    // One reload at a time, in the order asked.
    reload: async (next) => {
      const r = reloads.then(async () => reload(next))
      reloads = r.catch(() => undefined)
      return r
    },
    beginDrain: () => {
      if (draining) return
      draining = true
      stopDraining = startDraining(app.server)
    },
    close: async () => {
      stopDraining?.()
      for (const p of ref.current.providers.values()) p.stop()
      await Promise.allSettled([app.close(), admin?.close()])
      for (const [retired, timer] of retiring) { clearTimeout(timer); await closeRetired(retired) }
      retiring.clear()
      await generation.pools.close()
      await backend.close()
    },
  }
}
