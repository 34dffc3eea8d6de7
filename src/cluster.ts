import cluster, { type Worker } from 'node:cluster'
import { createServer, type Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config/types.js'
import { DRAIN_MARGIN_MS } from './drain.js'
import { ConfigWatcher, readConfig } from './reload.js'
import type { Revocations } from './session/revocations.js'

/**
 * `workers: N` — N processes serve one port (node:cluster, the primary
 * hands out connections). The primary runs no gateway: it forks, replaces a
 * worker that dies, serves the admin endpoints for all of them, relays
 * session revocations between workers, forwards SIGHUP (and, with
 * `reload.watch`, file changes) to every worker, and on SIGTERM/SIGINT drains
 * every worker before it exits.
 */

interface AdminAsk { readonly type: 'gatehouse:admin', readonly id: number, readonly url: string }
interface AdminAnswer { readonly type: 'gatehouse:admin', readonly id: number, readonly status: number, readonly body: string }
interface Revoke { readonly type: 'gatehouse:revoke', readonly key: string, readonly at: number, readonly ttl: number }
type Message = AdminAsk | AdminAnswer | Revoke

const ADMIN_TIMEOUT_MS = 2_000

function isMessage (m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('gatehouse:')
}

function log (level: 'info' | 'warn' | 'error', msg: string, extra: object = {}): void {
  // Same line shape as the workers' pino logs.
  const n = level === 'info' ? 30 : level === 'warn' ? 40 : 50
  process.stdout.write(JSON.stringify({ level: n, time: Date.now(), pid: process.pid, role: 'primary', ...extra, msg }) + '\n')
}

/**
 * Merges the Prometheus text of several workers: every sample gets a
 * `worker` label, samples are grouped under their metric's HELP/TYPE once.
 */
export function mergeMetrics (texts: ReadonlyMap<string, string>): string {
  const groups = new Map<string, { head: string[], samples: string[] }>()
  for (const [worker, text] of texts) {
    let current: { head: string[], samples: string[] } | undefined
    for (const line of text.split('\n')) {
      if (line === '') continue
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line)
      if (meta !== null) {
        let g = groups.get(meta[2]!)
        if (g === undefined) { g = { head: [], samples: [] }; groups.set(meta[2]!, g) }
        if (g.head.length < 2 && !g.head.some((h) => h.startsWith(`# ${meta[1]!} `))) g.head.push(line)
        current = g
        continue
      }
      if (line.startsWith('#') || current === undefined) continue
      const space = line.lastIndexOf(' ')
      const series = line.slice(0, space)
      const brace = series.indexOf('{')
      const labelled = brace === -1 ? `${series}{worker="${worker}"}` : `${series.slice(0, -1)},worker="${worker}"}`
      current.samples.push(`${labelled}${line.slice(space)}`)
    }
  }
  let out = ''
  for (const g of groups.values()) out += [...g.head, ...g.samples].join('\n') + '\n'
  return out
}

/** Asks every live worker for an admin URL; resolves with their answers by worker id. */
function askWorkers (url: string, nextId: () => number): Promise<Map<string, AdminAnswer | undefined>> {
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected())
  return Promise.all(workers.map(async (w) => new Promise<[string, AdminAnswer | undefined]>((resolve) => {
    const id = nextId()
    const timer = setTimeout(() => { w.off('message', onMessage); resolve([String(w.id), undefined]) }, ADMIN_TIMEOUT_MS)
    const onMessage = (m: unknown): void => {
      if (!isMessage(m) || m.type !== 'gatehouse:admin' || m.id !== id || !('status' in m)) return
      clearTimeout(timer)
      w.off('message', onMessage)
      resolve([String(w.id), m])
    }
    w.on('message', onMessage)
    w.send({ type: 'gatehouse:admin', id, url } satisfies AdminAsk)
  }))).then((pairs) => new Map(pairs))
}

function adminServer (config: Config, draining: () => boolean): Server {
  let seq = 0
  const nextId = (): number => ++seq
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/readyz' && path !== '/metrics')) {
      send(404, 'application/json; charset=utf-8', '{"error":"not found"}')
      return
    }
    // Draining: not ready at once, whatever the workers would say.
    if (path === '/readyz' && draining()) {
      send(503, 'application/json; charset=utf-8', '{"status":"draining"}')
      return
    }
    askWorkers(path, nextId).then((answers) => {
      if (path === '/metrics') {
        const texts = new Map<string, string>()
        for (const [id, a] of answers) if (a?.status === 200) texts.set(id, a.body)
        send(200, 'text/plain; version=0.0.4; charset=utf-8', mergeMetrics(texts))
        return
      }
      const workers = Object.fromEntries([...answers].map(([id, a]) => [id, a === undefined ? { status: 'no answer' } : JSON.parse(a.body) as unknown]))
      const up = [...answers.values()].filter((a) => a?.status === 200).length
      // Healthy while any worker serves; ready when all configured workers are.
      const ok = path === '/healthz' ? up > 0 : up === config.workers
      send(ok ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify({ status: ok ? (path === '/healthz' ? 'ok' : 'ready') : (path === '/healthz' ? 'down' : 'not ready'), workers }))
    }, () => { send(500, 'application/json; charset=utf-8', '{"error":"internal"}') })
  })
}

/** The primary process: never returns; exits when the workers are gone after a signal. */
export function runPrimary (config: Config, file?: string): void {
  let closing = false
  // The latest valid file: its shutdownGrace and reload.watch apply here.
  let current = config
  let everListening = false
  const fork = (): void => {
    const w = cluster.fork()
    w.on('message', (m: unknown) => {
      // A session ended in one worker ends in all (in-memory revocation records are per process).
      if (isMessage(m) && m.type === 'gatehouse:revoke') {
        for (const other of Object.values(cluster.workers ?? {})) if (other !== undefined && other !== w && other.isConnected()) other.send(m)
      }
    })
  }
  // A worker gets SIGHUP once it serves (before that it may not handle it yet, and reads the file anyway).
  const serving = new Set<number>()
  const hupPending = new Set<number>()
  cluster.on('listening', (w) => {
    everListening = true
    serving.add(w.id)
    if (hupPending.delete(w.id)) w.process.kill('SIGHUP')
  })
  cluster.on('exit', (worker, code, signal) => {
    serving.delete(worker.id)
    hupPending.delete(worker.id)
    if (closing) {
      if (Object.keys(cluster.workers ?? {}).length === 0) { log('info', 'all workers stopped'); process.exit(exitCode) }
      return
    }
    if (!everListening) {
      // It never served: a start-up failure (port in use, ...) would only repeat.
      log('error', 'worker failed before serving; stopping', { worker: worker.id, code, signal })
      shutdown('worker start-up failure', 1)
      return
    }
    log('error', 'worker exited; starting a new one', { worker: worker.id, code, signal })
    setTimeout(fork, 1_000)
  })
  for (let i = 0; i < config.workers; i++) fork()
  const admin = config.admin !== undefined ? adminServer(config, () => closing) : undefined
  admin?.listen(config.admin!.listen.port, config.admin!.listen.host)
  log('info', 'primary started', { workers: config.workers, listen: `${config.listen.host}:${config.listen.port}` })

  let exitCode = 0
  function shutdown (reason: string, code = 0): void {
    if (closing) return
    closing = true
    exitCode = code
    log('info', 'shutting down: draining every worker', { reason, shutdownGrace: current.shutdownGrace })
    watcher?.close()
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
    if (live.length === 0) process.exit(exitCode)
    // Each worker drains its in-flight requests on SIGTERM (see cli-run.ts).
    for (const w of live) w.process.kill('SIGTERM')
    setTimeout(() => {
      log('warn', 'drain timed out; stopping the remaining workers')
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
      process.exit(1)
    }, current.shutdownGrace + 2 * DRAIN_MARGIN_MS).unref()
  }
  process.once('SIGTERM', () => { shutdown('SIGTERM') })
  process.once('SIGINT', () => { shutdown('SIGINT') })

  // Reloads happen in the workers, each reading the file itself (and logging
  // its problems); the primary only relays the signal.
  let fingerprint = file !== undefined ? readConfig(file).fingerprint : ''
  const forwardHup = (trigger: string): void => {
    if (closing) return
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected())
    log('info', 'reload: SIGHUP sent to every worker', { trigger, workers: live.length })
    for (const w of live) {
      if (serving.has(w.id)) w.process.kill('SIGHUP')
      else hupPending.add(w.id)
    }
    if (file === undefined) return
    const read = readConfig(file)
    fingerprint = read.fingerprint
    if (read.ok) {
      current = read.config
      watcher?.update(current.reload.watch ? read.files : [])
    }
  }
  const watcher = file !== undefined
    ? new ConfigWatcher(() => {
      const read = readConfig(file)
      if (read.fingerprint === '' || read.fingerprint === fingerprint) return
      forwardHup('watch')
    }, { info: (o, m) => { log('info', m, o) }, warn: (o, m) => { log('warn', m, o) }, error: (o, m) => { log('error', m, o) } })
    : undefined
  if (file !== undefined && config.reload.watch) {
    const read = readConfig(file)
    watcher?.update(read.ok ? read.files : [file])
  }
  process.on('SIGHUP', () => { forwardHup('SIGHUP') })
}

/**
 * A worker's in-process revocation records, shared with its siblings through
 * the primary: a logout (or back-channel logout) handled by one worker ends
 * the session in all of them. Only for the in-memory records; Redis ones are
 * shared already. The replay cache of logout tokens (`once`) stays per worker.
 */
export class ClusterRevocations implements Revocations {
  readonly kind: Revocations['kind']
  readonly #local: Revocations

  constructor (local: Revocations) {
    this.#local = local
    this.kind = local.kind
    process.on('message', (m: unknown) => {
      if (isMessage(m) && m.type === 'gatehouse:revoke') void local.revoke(m.key, m.at, m.ttl)
    })
  }

  revoke (key: string, at: number, ttl: number): void | Promise<void> {
    process.send?.({ type: 'gatehouse:revoke', key, at, ttl } satisfies Revoke)
    return this.#local.revoke(key, at, ttl)
  }

  revokedAt (keys: readonly string[]): number | undefined | Promise<number | undefined> { return this.#local.revokedAt(keys) }
  once (key: string, ttl: number): boolean | Promise<boolean> { return this.#local.once(key, ttl) }
  ready (): boolean { return this.#local.ready() }
}

/**
 * Worker side: answers the primary's admin questions from this worker's own
 * admin app (never listening itself), and drains when the primary is gone.
 */
export function joinCluster (admin: FastifyInstance | undefined, onPrimaryGone: () => void): void {
  process.on('message', (m: unknown) => {
    if (!isMessage(m) || m.type !== 'gatehouse:admin' || 'status' in m || admin === undefined) return
    admin.inject({ method: 'GET', url: m.url }).then((r) => {
      process.send?.({ type: 'gatehouse:admin', id: m.id, status: r.statusCode, body: r.body } satisfies AdminAnswer)
    }, () => { process.send?.({ type: 'gatehouse:admin', id: m.id, status: 500, body: '{}' } satisfies AdminAnswer) })
  })
  // Without the primary no connections arrive: drain and exit.
  process.once('disconnect', onPrimaryGone)
}
