import type { Cluster, Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { randomToken } from './crypto.js'
import type { Session } from './session.js'

/** Sessions kept in the local cache at most (per replica); the least recently used is dropped first. */
export const LOCAL_CACHE_MAX = 10_000

/** A subscription that failed on a connection that stayed up is tried again after this long. */
const RESUBSCRIBE_MS = 1_000
/** In a Cluster, after a loss: how often this replica checks that its subscriber hears the channel again. */
const PROBE_MS = 500

/** The few logger methods the cache uses (pino-compatible). */
interface CacheLogger {
  warn (obj: object, msg?: string): void
}

interface Entry {
  readonly session: Session
  /** Served until then: the time its GET was sent plus the TTL. */
  readonly until: number
}

/** A GET under way: `stale` when the session changed meanwhile, so its answer must not be kept. */
interface Loading {
  readonly promise: Promise<Session | null>
  stale: boolean
}

/** Freezes a session read from Redis and everything in it: cached sessions are shared by requests. */
function deepFreeze<T> (v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k])
  }
  return v
}

/**
 * Sessions this replica read from Redis recently, by ticket digest, so a
 * request whose session was read within `ttl` needs no Redis command.
 *
 * Bound: an entry is served at most `ttl` after the GET that read it was
 * sent. A session another replica ends (logout, back-channel logout) or
 * changes (refresh, idle touch) is gone from Redis from then on, so a GET
 * sent after that never brings it back: whatever happens to the messages
 * below, no replica serves a session more than `ttl` after it ended.
 *
 * Within the bound, every change is announced: the replica that writes or
 * deletes a session PUBLISHes its digest (never the ticket) on the channel,
 * and every replica drops that entry on receipt (milliseconds). A dedicated
 * subscriber connection listens; while it is not subscribed (closed,
 * reconnecting) messages may be lost, so the cache is emptied and bypassed
 * until it is subscribed again. A GET that was under way when its session
 * changed, or when the subscriber went down, is not kept.
 */
export class LocalSessionCache {
  readonly #ttl: number
  readonly #now: () => number
  readonly #channel: string
  readonly #sub: Redis | Cluster
  readonly #log: CacheLogger
  readonly #entries = new LRUCache<string, Entry>({ max: LOCAL_CACHE_MAX })
  readonly #loading = new Map<string, Loading>()
  #subscribed = false
  #closing = false

  constructor (client: Redis | Cluster, cluster: boolean, channel: string, ttl: number, now: () => number, log: CacheLogger) {
    this.#ttl = ttl
    this.#now = now
    this.#channel = channel
    this.#log = log
    this.#client = client
    this.#sharded = cluster
    // A subscribed connection runs no other command: a connection of its own.
    // It subscribes itself on every 'ready' (below), so it knows when it is.
    // In a Cluster, sharded pub/sub: the channel lives on the master of its
    // slot, which hands a message to its subscribers before it answers the
    // SPUBLISH (plain PUBLISH reaches the other nodes later, over the bus).
    this.#sub = cluster ? (client as Cluster).duplicate([], { shardedSubscribers: true }) : (client as Redis).duplicate({ autoResubscribe: false })
    this.#sub.on('ready', () => { this.#subscribe() })
    this.#sub.on(cluster ? 'smessage' : 'message', (ch: string, message: string) => {
      if (ch !== this.#channel) return
      if (this.#probe !== undefined && message === this.#probe) this.#regained()
      else this.drop(message)
    })
    for (const event of ['error', 'close', 'end']) this.#sub.on(event, () => { this.#lost() })
    // In a Cluster the subscriber's connection to that master is not the
    // cluster's own: the client reports its loss or failure as a node event,
    // and subscribes again by itself wherever the slot then lives.
    if (cluster) for (const event of ['-node', 'nodeError']) this.#sub.on(event, () => { this.#lost() })
  }

  readonly #client: Redis | Cluster
  readonly #sharded: boolean
  /** While not subscribed in a Cluster: the probe this replica publishes until its own subscriber receives it. */
  #probe: string | undefined
  #probing: NodeJS.Timeout | undefined

  #subscribe (): void {
    const subscribed = this.#sharded ? this.#sub.ssubscribe(this.#channel) : this.#sub.subscribe(this.#channel)
    subscribed.then(() => { this.#regained() }, (err: Error) => {
      this.#warnOnce('subscribe', err, 'session cache: subscribing to session changes failed; reading every session from Redis until it succeeds')
      this.#lost()
      if (!this.#closing && this.#sub.status === 'ready') setTimeout(() => { if (!this.#closing && this.#sub.status === 'ready') this.#subscribe() }, RESUBSCRIBE_MS).unref()
    })
  }

  /** Subscribed (again): entries may be served. */
  #regained (): void {
    if (this.#probing !== undefined) clearInterval(this.#probing)
    this.#probing = undefined
    this.#probe = undefined
    if (!this.#closing) this.#subscribed = true
  }

  /**
   * In a Cluster the client subscribes again by itself, without saying when
   * it has: publish a random probe until this replica's subscriber receives
   * it, and trust the cache from then on.
   */
  #startProbing (): void {
    if (!this.#sharded || this.#probing !== undefined || this.#closing) return
    const probe = `probe:${randomToken(12)}`
    this.#probe = probe
    this.#probing = setInterval(() => {
      if (this.#client.status === 'ready') this.#client.spublish(this.#channel, probe).catch(() => undefined)
    }, PROBE_MS)
    this.#probing.unref()
  }

  /** Messages may be lost from now on: forget everything, and every GET under way. */
  #lost (): void {
    const was = this.#subscribed
    this.#subscribed = false
    if (was) this.#startProbing()
    this.#entries.clear()
    for (const l of this.#loading.values()) l.stale = true
    this.#loading.clear()
  }

  /** Whether entries may be served: subscribed to invalidations. */
  get trusted (): boolean { return this.#subscribed }

  /** How many sessions are cached. */
  get size (): number { return this.#entries.size }

  /**
   * The session under `digest`: from the cache when read within the TTL,
   * else by `fetch` (one GET, shared by concurrent requests for the same
   * session), kept for the TTL from when the GET was sent.
   */
  async get (digest: string, fetch: () => Promise<Session | null>): Promise<Session | null> {
    if (!this.#subscribed) return fetch()
    const now = this.#now()
    const hit = this.#entries.get(digest)
    if (hit !== undefined) {
      if (hit.until > now) return hit.session
      this.#entries.delete(digest)
    }
    const under = this.#loading.get(digest)
    if (under !== undefined) return under.promise
    const loading: Loading = { promise: fetch().then((s) => s === null ? null : deepFreeze(s)), stale: false }
    this.#loading.set(digest, loading)
    try {
      const session = await loading.promise
      if (session !== null && !loading.stale) this.#entries.set(digest, { session, until: now + this.#ttl })
      return session
    } finally {
      if (this.#loading.get(digest) === loading) this.#loading.delete(digest)
    }
  }

  /** The session under `digest` changed or ended: drop it here (also what a message from another replica does). */
  drop (digest: string): void {
    this.#entries.delete(digest)
    const l = this.#loading.get(digest)
    if (l !== undefined) { l.stale = true; this.#loading.delete(digest) }
  }

  /** Tells every replica (this one too) that the session under `digest` changed or ended. */
  async announce (c: Redis | Cluster, digest: string): Promise<unknown> {
    this.drop(digest)
    // A refused PUBLISH (an ACL without the channel) must not fail the write
    // it accompanies: the other replicas then drop their copy at the TTL.
    return (this.#sharded ? c.spublish(this.#channel, digest) : c.publish(this.#channel, digest)).catch((err: Error) => {
      this.#warnOnce('publish', err, 'session cache: announcing a session change failed; other replicas may serve their copy until localCacheTtl')
    })
  }

  /** What was already logged, so a lasting refusal (e.g. NOPERM) is logged once, not on every retry or write. */
  readonly #warned = new Set<string>()

  #warnOnce (what: string, err: Error, msg: string): void {
    const key = `${what}:${err.message}`
    if (this.#warned.has(key) || this.#warned.size >= 16) return
    this.#warned.add(key)
    this.#log.warn({ reason: err.message, channel: this.#channel }, msg)
  }

  close (): void {
    this.#closing = true
    if (this.#probing !== undefined) clearInterval(this.#probing)
    this.#lost()
    this.#sub.disconnect()
  }
}
