import { createHash } from 'node:crypto'
import { watch, readFileSync, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import type { GatehouseApp } from './app.js'
import { parseConfig } from './config/load.js'
import type { Config } from './config/types.js'
import { configWarnings } from './config/validate.js'
import { ConfigError } from './errors.js'
import type { Reconciled } from './gateway.js'

/**
 * Reload without restart: SIGHUP (or a change of the file, with
 * `reload.watch: true`) reads the file and every `…File` it names again,
 * validates it, and swaps the gateway context for new requests. An invalid
 * file, or one that changes something only a restart can change, is logged
 * and the running configuration stays.
 */

export type ReloadResult =
  | { readonly ok: true, readonly providers: Reconciled, readonly origins: Reconciled, readonly poolsReplaced: boolean }
  | { readonly ok: false, readonly refused: readonly string[] }

const addr = (a: { host: string, port: number } | undefined): string => a === undefined ? 'none' : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`

/**
 * Pure: the fields that differ between the running and the new config and
 * that a running process cannot change (sockets, processes, the session
 * store it has open), each as `path: what changed`. Values that may hold a
 * secret (the Redis URL and password) are not repeated.
 */
export function restartChanges (prev: Config, next: Config): string[] {
  const out: string[] = []
  const differ = (path: string, a: unknown, b: unknown, show = true): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}: changed${show ? ` from ${String(a)} to ${String(b)}` : ''}; this needs a restart`)
  }
  differ('listen', addr(prev.listen), addr(next.listen))
  differ('admin.listen', addr(prev.admin?.listen), addr(next.admin?.listen))
  differ('workers', prev.workers, next.workers)
  differ('trustProxy', prev.trustProxy, next.trustProxy)
  // The listener is HTTP or HTTPS for its life; the certificate itself is reloaded.
  differ('tls', prev.tls === undefined ? 'off' : 'on', next.tls === undefined ? 'off' : 'on')
  differ('log.requests', prev.log.requests, next.log.requests)
  // The access log is set up with the listener (every request, fast path included).
  differ('log.access', prev.log.access, next.log.access)
  // The log destination is opened once, at start.
  differ('log.flushInterval', `${prev.log.flushInterval}ms`, `${next.log.flushInterval}ms`)
  differ('log.redactQueryParams', prev.log.redactQueryParams.join(','), next.log.redactQueryParams.join(','))
  differ('session.store', prev.session.store, next.session.store)
  // The Redis connection and the store built on it are opened once.
  differ('session.redis.url', prev.session.redis?.url, next.session.redis?.url, false)
  const nodes = (l: readonly { host: string, port: number }[] | undefined): string | undefined => l?.map((a) => addr(a)).join(',')
  differ('session.redis.sentinels', nodes(prev.session.redis?.sentinels), nodes(next.session.redis?.sentinels))
  differ('session.redis.sentinelName', prev.session.redis?.sentinelName, next.session.redis?.sentinelName)
  differ('session.redis.cluster', nodes(prev.session.redis?.cluster), nodes(next.session.redis?.cluster))
  differ('session.redis.username', prev.session.redis?.username, next.session.redis?.username)
  differ('session.redis.password', prev.session.redis?.password, next.session.redis?.password, false)
  differ('session.redis.keyPrefix', prev.session.redis?.keyPrefix, next.session.redis?.keyPrefix)
  if (prev.session.store === 'redis') differ('session.redis.localCacheTtl', `${prev.session.redis?.localCacheTtl}ms`, `${next.session.redis?.localCacheTtl}ms`)
  if (prev.session.store === 'memory') differ('session.memory.maxSessions', prev.session.memory.maxSessions, next.session.memory.maxSessions)
  if (prev.session.store !== 'cookie' && next.session.store === prev.session.store) {
    // A server-side store expires sessions with the timeouts it was built with.
    differ('session.idleTimeout', `${prev.session.idleTimeout}ms`, `${next.session.idleTimeout}ms`)
    differ('session.absoluteTimeout', `${prev.session.absoluteTimeout}ms`, `${next.session.absoluteTimeout}ms`)
  }
  return out
}

/** A config as read from its file, with every file it read and a fingerprint of their contents. */
export interface LoadedConfig {
  readonly config: Config
  /** The config file and every `…File` it names, absolute. */
  readonly files: readonly string[]
  /** SHA-256 over the contents of `files`: the same value means nothing changed. */
  readonly fingerprint: string
}

/** The outcome of reading the file: a config, or its problems (what `gatehouse check` prints), plus what was read. */
export type ReadOutcome =
  | ({ readonly ok: true } & LoadedConfig)
  | { readonly ok: false, readonly problems: readonly string[], readonly files: readonly string[], readonly fingerprint: string }

/** Reads and validates `file` as start-up does, recording each file read (for watching) and their contents (for the fingerprint). */
export function readConfig (file: string, env: Readonly<Record<string, string | undefined>> = process.env): ReadOutcome {
  const hash = createHash('sha256')
  const files = [resolve(file)]
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    return { ok: false, problems: [`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], files, fingerprint: '' }
  }
  hash.update(text).update('\0')
  const readFile = (p: string): string => {
    // Relative `…File` paths are read from the working directory, as at start-up.
    files.push(resolve(p))
    const content = readFileSync(p, 'utf8')
    hash.update(p).update('\0').update(content).update('\0')
    return content
  }
  try {
    const config = parseConfig(text, { env, readFile })
    return { ok: true, config, files, fingerprint: hash.digest('hex') }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return { ok: false, problems: err.problems, files, fingerprint: hash.digest('hex') }
  }
}

/** The lines `gatehouse check` prints for an invalid file. */
export function problemLines (file: string, problems: readonly string[]): string[] {
  return [`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:`, ...problems.map((p) => `  ${p}`)]
}

interface Log {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** How long file events are collected before the file is read (a ConfigMap update is several renames). */
export const WATCH_DEBOUNCE_MS = 300

/**
 * Watches the directories holding the config file and the files it names
 * (not the files: Kubernetes updates a ConfigMap or Secret volume by
 * pointing the `..data` symlink at a new directory, which replaces every
 * file at once and leaves a watch on the old inode deaf). Events are
 * debounced; the caller compares contents, so a touch or an unrelated file in
 * the directory changes nothing.
 */
export class ConfigWatcher {
  readonly #onChange: () => void
  readonly #log: Log
  readonly #watchers = new Map<string, FSWatcher>()
  #timer: NodeJS.Timeout | undefined

  constructor (onChange: () => void, log: Log) {
    this.#onChange = onChange
    this.#log = log
  }

  /** Watches exactly the directories of `files` (an empty list stops watching). */
  update (files: readonly string[]): void {
    const dirs = new Set(files.map((f) => dirname(f)))
    for (const [dir, w] of this.#watchers) if (!dirs.has(dir)) { w.close(); this.#watchers.delete(dir) }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue
      try {
        const w = watch(dir, { persistent: false }, () => { this.#changed() })
        w.on('error', (err) => {
          this.#log.warn({ dir, err: err.message }, 'config watch failed; SIGHUP still reloads')
          w.close()
          this.#watchers.delete(dir)
        })
        this.#watchers.set(dir, w)
      } catch (err) {
        this.#log.warn({ dir, err: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'cannot watch the config directory; SIGHUP still reloads')
      }
    }
  }

  get watching (): readonly string[] { return [...this.#watchers.keys()] }

  #changed (): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#onChange() }, WATCH_DEBOUNCE_MS)
    this.#timer.unref()
  }

  close (): void {
    clearTimeout(this.#timer)
    for (const w of this.#watchers.values()) w.close()
    this.#watchers.clear()
  }
}

export type ReloadTrigger = 'SIGHUP' | 'watch'

/**
 * Drives reloads of one running gateway from its file: reads, validates,
 * logs the problems of an invalid file as `gatehouse check` prints them,
 * applies a valid one, and keeps the watch (when `reload.watch` is on) on the
 * files the config in force names. Never throws; reloads run one at a time.
 */
export class Reloader {
  readonly #file: string
  readonly #gh: GatehouseApp
  readonly #log: Log
  readonly #watcher: ConfigWatcher
  /** Contents last applied or refused: the watch reloads only on a different one. */
  #fingerprint: string
  #running: Promise<void> = Promise.resolve()
  #pending = false
  #stopped = false

  readonly #watchAllowed: boolean

  /** `watch: false`: never watch, whatever the config says (cluster workers: the primary watches). */
  constructor (file: string, gh: GatehouseApp, log: Log, opts: { watch?: boolean } = {}) {
    this.#file = file
    this.#gh = gh
    this.#log = log
    this.#watchAllowed = opts.watch ?? true
    this.#watcher = new ConfigWatcher(() => { void this.reload('watch') }, log)
    const now = readConfig(file)
    this.#fingerprint = now.fingerprint
    this.#watch(gh.gateway.config, now.ok ? now.files : [resolve(file)])
  }

  #watch (config: Config, files: readonly string[]): void {
    this.#watcher.update(config.reload.watch && this.#watchAllowed && !this.#stopped ? files : [])
  }

  /** Reloads now (SIGHUP), or when the contents changed (watch). Resolves when done; a reload asked meanwhile runs once after. */
  reload (trigger: ReloadTrigger): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    if (this.#pending) return this.#running
    this.#pending = true
    this.#running = this.#running.then(async () => {
      this.#pending = false
      if (this.#stopped) return
      try {
        await this.#reload(trigger)
      } catch (err) {
        // A bug, not a bad file: the running configuration stays either way.
        this.#log.error({ trigger, err: (err as Error)?.stack ?? String(err) }, 'reload failed; the running configuration stays')
        this.#gh.gateway.metrics.reload('error')
      }
    })
    return this.#running
  }

  async #reload (trigger: ReloadTrigger): Promise<void> {
    const read = readConfig(this.#file)
    if (trigger === 'watch' && read.fingerprint !== '' && read.fingerprint === this.#fingerprint) return
    const metrics = this.#gh.gateway.metrics
    if (!read.ok) {
      // A file half-written or missing while a ConfigMap is swapped shows up here too; the next event retries.
      if (read.fingerprint !== '') this.#fingerprint = read.fingerprint
      const [head, ...lines] = problemLines(this.#file, read.problems)
      this.#log.error({ trigger, problems: read.problems }, `reload refused: ${head!} the running configuration stays`)
      for (const line of lines) this.#log.error({ trigger }, line.trim())
      metrics.reload('invalid')
      return
    }
    this.#fingerprint = read.fingerprint
    const result = await this.#gh.reload(read.config)
    if (!result.ok) {
      this.#log.error({ trigger, refused: result.refused }, `reload refused: ${this.#file}: the running configuration stays`)
      for (const line of result.refused) this.#log.error({ trigger }, line)
      metrics.reload('refused')
      return
    }
    this.#watch(read.config, read.files)
    for (const warning of configWarnings(read.config)) this.#log.warn({ trigger }, warning)
    metrics.reload('ok')
    this.#log.info({
      trigger,
      file: basename(this.#file),
      routes: read.config.routes.length,
      providers: { reused: result.providers.reuse, created: result.providers.create, removed: result.providers.remove },
      upstreams: { reused: result.origins.reuse.length, created: result.origins.create, removed: result.origins.remove, poolsReplaced: result.poolsReplaced },
    }, 'configuration reloaded')
  }

  /** Stops watching and ignores further reloads (the process is shutting down). */
  stop (): void {
    this.#stopped = true
    this.#watcher.close()
  }
}
