import cluster from 'node:cluster'
import { buildApp, type GatehouseApp } from './app.js'
import { ASSERTION_KEY_ENV, runPrimary } from './cluster/primary.js'
import { ClusterRevocations, joinCluster } from './cluster/worker.js'
import type { Config } from './config/types.js'
import { configWarnings } from './config/warnings.js'
import { DRAIN_MARGIN_MS } from './drain.js'
import { Reloader } from './reload.js'

/**
 * Runs the gateway until SIGTERM/SIGINT, then drains and exits 0: /readyz
 * fails at once, the proxy serves in-flight and new requests (with
 * `Connection: close`) for `shutdownGrace`, then closes. SIGHUP reloads
 * `file` (see reload.ts) and never stops the process.
 */
export async function run (config: Config, file?: string): Promise<GatehouseApp> {
  const worker = cluster.isWorker
  // Installed first: without a handler, SIGHUP would end the process during start-up.
  let reloader: Reloader | undefined
  let hupDuringStart = false
  process.on('SIGHUP', () => {
    if (reloader !== undefined) void reloader.reload('SIGHUP')
    else hupDuringStart = true
  })
  // A worker signs assertions with the key the primary made (unless the config gives one), so all agree.
  const assertionKey = worker ? process.env[ASSERTION_KEY_ENV] : undefined
  delete process.env[ASSERTION_KEY_ENV]
  const gh = await buildApp(config, worker ? { wrapRevocations: (local) => new ClusterRevocations(local), ...(assertionKey !== undefined ? { assertionKey } : {}) } : {})
  // Discovery starts before the port opens and runs in the background with
  // retries (/readyz reports it); a login that arrives while it is in flight
  // waits for it rather than failing.
  void gh.startProviders()
  await gh.app.listen({ host: config.listen.host, port: config.listen.port })
  // In a cluster the primary serves the admin endpoints for every worker.
  if (gh.admin !== undefined && !worker) await gh.admin.listen({ host: config.admin!.listen.host, port: config.admin!.listen.port })
  if (!worker || cluster.worker?.id === 1) for (const warning of configWarnings(config)) gh.app.log.warn(warning)
  // In a cluster the primary watches the file and sends SIGHUP; workers only reload.
  if (file !== undefined) reloader = new Reloader(file, gh, gh.app.log, { watch: !worker })
  else process.on('SIGHUP', () => { gh.app.log.warn('SIGHUP: no config file to reload (started without one)') })
  if (hupDuringStart) void reloader?.reload('SIGHUP')
  let closing = false
  const shutdown = (signal: string): void => {
    if (closing) return
    closing = true
    reloader?.stop()
    const grace = gh.gateway.config.shutdownGrace
    gh.app.log.info({ signal, shutdownGrace: grace }, 'drain started: readiness fails, requests are served for shutdownGrace')
    gh.beginDrain()
    const started = Date.now()
    const force = setTimeout(() => { gh.app.log.warn({ signal }, 'drain timed out; exiting'); process.exit(0) }, grace + DRAIN_MARGIN_MS)
    force.unref()
    setTimeout(() => {
      gh.close().then(() => {
        gh.app.log.info({ signal, ms: Date.now() - started }, 'drain complete; exiting')
        process.exit(0)
      }, () => process.exit(1))
    }, grace)
  }
  process.once('SIGTERM', () => { shutdown('SIGTERM') })
  process.once('SIGINT', () => { shutdown('SIGINT') })
  if (worker) joinCluster(gh.admin, () => { shutdown('primary gone') })
  return gh
}

/**
 * The CLI's entry: with `workers` > 1 this process becomes the cluster
 * primary and each forked worker (which runs this again) serves the gateway.
 * `file` is what SIGHUP (and `reload.watch`) read again.
 */
export async function serve (config: Config, file?: string): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) {
    runPrimary(config, file)
    return
  }
  await run(config, file)
}
