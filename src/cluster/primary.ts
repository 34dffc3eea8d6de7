import cluster, { type Worker } from 'node:cluster'
import type { Config } from '../config/types.js'
import { exportAssertionKey, generateAssertionKey } from '../auth/assertion.js'
import { DRAIN_MARGIN_MS } from '../drain.js'
import { ConfigWatcher, readConfig } from '../reload.js'
import { adminServer } from './admin.js'
import { isMessage } from './messages.js'

/**
 * `workers: N` — N processes serve one port (node:cluster, the primary
 * hands out connections). The primary runs no gateway: it forks, replaces a
 * worker that dies, serves the admin endpoints for all of them, relays
 * session revocations between workers, forwards SIGHUP (and, with
 * `reload.watch`, file changes) to every worker, and on SIGTERM/SIGINT drains
 * every worker before it exits.
 */

function log (level: 'info' | 'warn' | 'error', msg: string, extra: object = {}): void {
  // Same line shape as the workers' pino logs.
  const n = level === 'info' ? 30 : level === 'warn' ? 40 : 50
  process.stdout.write(JSON.stringify({ level: n, time: Date.now(), pid: process.pid, role: 'primary', ...extra, msg }) + '\n')
}

/** Where a worker finds the assertion key the primary made (read and removed from its environment at start). */
export const ASSERTION_KEY_ENV = 'GATEHOUSE_ASSERTION_KEY_JWK'

/** The primary process: never returns; exits when the workers are gone after a signal. */
export function runPrimary (config: Config, file?: string): void {
  let closing = false
  // The latest valid file: its shutdownGrace and reload.watch apply here.
  let current = config
  let everListening = false
  // One assertion key for every worker (used when the config gives none), also for workers started later.
  const assertionKey = exportAssertionKey(generateAssertionKey())
  const fork = (): void => {
    const w = cluster.fork({ [ASSERTION_KEY_ENV]: assertionKey })
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
