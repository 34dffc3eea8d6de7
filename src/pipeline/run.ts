import type { IncomingMessage, ServerResponse } from 'node:http'
import { bearerToken, type BearerCheck, type BearerVerifier } from '../auth/bearer.js'
import type { Gateway } from '../context.js'
import { GatewayError } from '../errors.js'
import type { Decision, Outcome } from '../metrics.js'
import type { ReadResult } from '../session/manager.js'
import { splitCookieHeader } from '../session/cookies.js'
import { recordOf, type RequestRecord } from '../observe.js'
import { afterRefresh, decide, needsNoSession, resolve, type Action, type LogLine, type RouteTarget, type SessionInput } from './decide.js'
import { requestFacts, type RequestFacts } from './facts.js'

/**
 * The effects around the pure decision, shared by every entry: read the
 * facts, resolve the route, read the session (one store read), decide, and
 * refresh the tokens when the decision says so (once) — then the entry
 * executes the Action. Nothing here answers the client.
 */

/** A decided request: the context it was decided in, its facts and the Action. */
export interface Decided {
  readonly gw: Gateway
  readonly facts: RequestFacts
  readonly action: Action
  /** Gatehouse's cookies of the request (to rewrite or delete them). */
  readonly ours: Map<string, string> | undefined
  readonly now: number
  readonly rec: RequestRecord | undefined
}

const NOT_READ: ReadResult = Object.freeze({ session: null, outcome: 'none', reseal: false })

/**
 * Decides a request in the context `gw` (the one in force when it arrived).
 * Rejects only with what the session store throws when it is unreachable
 * (StoreUnavailableError, answered with 503).
 */
export async function decideRequest (gw: Gateway, raw: IncomingMessage): Promise<Decided> {
  return decideRequestNow(gw, raw)
}

/**
 * Decides a request given as facts: the proxy port reads them from the
 * request itself; forward-auth from the original request's X-Forwarded-* or
 * X-Original-* headers.
 */
export async function decideFacts (gw: Gateway, facts: RequestFacts, rec: RequestRecord | undefined): Promise<Decided> {
  return decideNow(gw, facts, rec)
}

/** decideNow() for a request on the proxy port, read from the request itself. Never throws. */
export function decideRequestNow (gw: Gateway, raw: IncomingMessage): Decided | Promise<Decided> {
  let facts: RequestFacts
  try { facts = requestFacts(raw, gw.config.trustProxy) } catch (err) { return Promise.reject(err) }
  return decideNow(gw, facts, recordOf(raw))
}

/**
 * decideFacts() for the listeners: the decision itself when everything it
 * needs is in memory (a cookie or memory-store session, the redis store's
 * local cache, a public route: the common case, with no promise and no
 * microtask), else a promise of it (a Redis read, a bearer check, a
 * refresh, an upstream token). Never throws: a failure is a rejected promise.
 */
export function decideNow (gw: Gateway, facts: RequestFacts, rec: RequestRecord | undefined): Decided | Promise<Decided> {
  try {
    const target = resolve(gw.routes, facts)
    const now = gw.now()
    if (target.kind !== 'route') return { gw, facts, action: target, ours: undefined, now, rec }
    if (rec !== undefined) {
      rec.route = target.route.metrics
      rec.host = facts.host
    }
    const split = splitCookieHeader(gw.sessions.names, facts.headers.cookie)
    const { verifier } = target.route
    const open = needsNoSession(target.route, facts)
    const token = verifier !== undefined && !open ? bearerToken(facts.headers.authorization) : undefined
    // acceptBearer: the token alone decides; the session is not read.
    if (token !== undefined) return decideWithBearer(gw, facts, rec, target, split, verifier!, token, now)
    const read = open ? NOT_READ : gw.sessions.read(split.ours, now)
    return read instanceof Promise
      ? read.then((r) => decided(gw, facts, rec, target, { read: r, cookieRest: split.rest }, split.ours, now))
      : decided(gw, facts, rec, target, { read, cookieRest: split.rest }, split.ours, now)
  } catch (err) {
    return Promise.reject(err)
  }
}

async function decideWithBearer (gw: Gateway, facts: RequestFacts, rec: RequestRecord | undefined, target: RouteTarget, split: ReturnType<typeof splitCookieHeader>, verifier: BearerVerifier, token: string, now: number): Promise<Decided> {
  const input = { read: NOT_READ, cookieRest: split.rest, bearer: await checkBearer(verifier, token) }
  return decided(gw, facts, rec, target, input, split.ours, now)
}

/** Decides with the session (or bearer) read; a refresh or an upstream token makes it a promise. */
function decided (gw: Gateway, facts: RequestFacts, rec: RequestRecord | undefined, target: RouteTarget, input: SessionInput, ours: Map<string, string> | undefined, now: number): Decided | Promise<Decided> {
  const action = decide(gw, facts, target, input, now)
  if (action.kind === 'refresh') {
    return (async () => {
      const outcome = await gw.refresher.refresh(action.session, action.provider, now)
      return finished(gw, facts, rec, afterRefresh(gw, facts, target, input, action, outcome, now), ours, now)
    })()
  }
  return finished(gw, facts, rec, action, ours, now)
}

function finished (gw: Gateway, facts: RequestFacts, rec: RequestRecord | undefined, action: Action, ours: Map<string, string> | undefined, now: number): Decided | Promise<Decided> {
  if (action.kind === 'forward' && action.route.upstreamTokens !== undefined) {
    return withUpstreamToken(action, now).then((a) => ({ gw, facts, action: a, ours, now, rec }))
  }
  return { gw, facts, action, ours, now, rec }
}

/** A bearer token's check: from the verifier's cache when it was verified before. */
async function checkBearer (verifier: BearerVerifier, token: string): Promise<BearerCheck> {
  return token === '' ? { ok: false, reason: 'malformed' } : verifier.check(token)
}

/**
 * `upstreamToken`: the gateway's own token replaces the Bearer the decision
 * put in. When none can be had (the provider refuses or cannot be reached),
 * the request gets the error page instead; the session effects stand.
 */
async function withUpstreamToken (action: Extract<Action, { kind: 'forward' }>, now: number): Promise<Action> {
  try {
    action.headers.authorization = `Bearer ${await action.route.upstreamTokens!.token(now)}`
    return action
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err
    const { kind: _kind, route: _route, path: _path, headers: _headers, session: _session, ...base } = action
    return {
      ...base,
      kind: 'page',
      code: err.code,
      status: err.status,
      retryAfter: err.status === 503 ? 5 : undefined,
      outcome: 'provider_unavailable',
      decision: 'error:provider_unavailable',
      logs: [...action.logs, { level: 'warn', fields: { code: err.code, route: action.route.index }, msg: 'no upstream token; request not forwarded' }],
    }
  }
}

/**
 * Carries out what the Action asks of the session before the answer: ends a
 * session whose refresh was refused, persists a changed one. Returns the
 * Set-Cookie values the answer carries (undefined: none): at once when
 * there is nothing to persist (most requests), else a promise.
 */
export function sessionEffects (d: Decided): string[] | undefined | Promise<string[] | undefined> {
  const { gw, action } = d
  if (action.end !== undefined) return gw.sessions.end(action.end, d.now).then(() => persisted(d))
  return persisted(d)
}

/** The write or the deletion of the session cookie an Action asks for. */
function persisted (d: Decided): string[] | undefined | Promise<string[]> {
  const { gw, action } = d
  // On the request's host: outside the cookie domain its cookie is host-only.
  if (action.write !== undefined) return gw.sessions.write(action.write, d.ours, d.now, false, d.facts.host)
  return action.clear ? gw.sessions.clear(d.ours, d.facts.host) : undefined
}

/**
 * For an entry answering on the server's listener (no Fastify request):
 * writes the Action's logs under the request's id, carries out its session
 * effects and counts the decision. Returns the request id and the
 * Set-Cookie values; undefined when the store failed while writing, after
 * handing the error to `failed` (the entry's Fastify route answers it).
 */
export function settleOnListener (d: Decided, failed: (error: unknown) => void): Settled | undefined | Promise<Settled | undefined> {
  const { gw } = d
  const requestId = d.rec !== undefined ? gw.observer.id(d.rec) : gw.newRequestId()
  writeLogs(gw.log, d.action.logs, { reqId: requestId })
  const settled = (setCookies: string[] | undefined): Settled => {
    recordDecision(d)
    return { requestId, setCookies }
  }
  let effects: ReturnType<typeof sessionEffects>
  try { effects = sessionEffects(d) } catch (error) { failed(error); return undefined }
  return effects instanceof Promise
    ? effects.then(settled, (error: unknown) => { failed(error); return undefined })
    : settled(effects)
}

/** What a listener hands to its Fastify route when deciding failed (the store was unreachable). */
class Failed {
  constructor (readonly error: unknown) {}
}

/**
 * Requests an entry's listener decided and handed to its Fastify route to
 * answer (or the error met while deciding), each taken once by that route:
 * a handed request is never decided again.
 */
export class Handoff<T extends object> {
  readonly #handed = new WeakMap<IncomingMessage, T | Failed>()

  /** What the listener handed for `req` (undefined: it arrived undecided); throws the error it met. */
  take (req: IncomingMessage): T | undefined {
    const h = this.#handed.get(req)
    if (h === undefined) return undefined
    this.#handed.delete(req)
    if (h instanceof Failed) throw h.error
    return h
  }

  /**
   * Runs a decision on the server's listener: `toFastify` says what to hand
   * over when the answer needs Fastify (undefined: the listener answers
   * itself with `answer`, after the session effects). Any failure is handed
   * over too, and Fastify's error handler answers it.
   */
  onListener (req: IncomingMessage, res: ServerResponse, fastify: (req: IncomingMessage, res: ServerResponse) => void, decided: Decided | Promise<Decided>, toFastify: (d: Decided) => T | undefined, answer: (d: Decided, settled: Settled) => void): void {
    const fail = (error: unknown): void => {
      if (res.headersSent) { res.destroy(); return }
      this.#handed.set(req, new Failed(error))
      fastify(req, res)
    }
    const run = (d: Decided): void => {
      try {
        const handed = toFastify(d)
        if (handed !== undefined) { this.#handed.set(req, handed); fastify(req, res); return }
        const settled = settleOnListener(d, fail)
        if (settled instanceof Promise) {
          settled.then((s) => { if (s !== undefined) answer(d, s) }).catch(fail)
        } else if (settled !== undefined) answer(d, settled)
      } catch (error) {
        fail(error)
      }
    }
    // Decided at once in the common case: no promise, no microtask.
    if (decided instanceof Promise) decided.then(run, fail)
    else run(decided)
  }
}

/** What an answer on the listener carries: the request id, and the session cookies to set. */
export interface Settled { readonly requestId: string, readonly setCookies: string[] | undefined }

/**
 * Counts the decision and keeps it, with the user and reason, for the access
 * log. `instead`: what the entry did in its place (a login refused by the
 * rate limit).
 */
export function recordDecision (d: Decided, instead?: { readonly outcome: Outcome, readonly decision: Decision }): void {
  const { gw, rec } = d
  const outcome = instead?.outcome ?? d.action.outcome
  const decision = instead !== undefined ? instead.decision : d.action.decision
  const action = d.action
  gw.metrics.outcome(outcome)
  if (decision !== undefined) gw.metrics.decision(decision)
  if (rec === undefined) return
  if (decision !== undefined) rec.decision = decision
  if (action.user !== undefined) rec.user = action.user
  if (action.detail !== undefined) rec.detail = action.detail
}

/** The pino-shaped logger an entry logs with. */
export interface LineLogger {
  debug (obj: object, msg: string): void
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
}

/** Writes the Action's log lines; `extra` adds the request id where the logger does not carry it. */
export function writeLogs (log: LineLogger, lines: readonly LogLine[], extra?: object): void {
  for (const l of lines) log[l.level](extra === undefined ? l.fields : { ...extra, ...l.fields }, l.msg)
}
