import cluster from 'node:cluster'
import { buildApp, type GatehouseApp } from './app.js'
import { ClusterRevocations, joinCluster, runPrimary } from './cluster.js'
import type { Config } from './config/types.js'
import { configWarnings } from './config/warnings.js'

/** Runs the gateway until SIGTERM/SIGINT, then drains in-flight requests and exits. */
export async function run (config: Config): Promise<GatehouseApp> {
  const worker = cluster.isWorker
  const gh = await buildApp(config, worker ? { wrapRevocations: (local) => new ClusterRevocations(local) } : {})
  // Discovery starts before the port opens and runs in the background with
  // retries (/readyz reports it); a login that arrives while it is in flight
  // waits for it rather than failing.
  void gh.startProviders()
  await gh.app.listen({ host: config.listen.host, port: config.listen.port })
  // In a cluster the primary serves the admin endpoints for every worker.
  if (gh.admin !== undefined && !worker) await gh.admin.listen({ host: config.admin!.listen.host, port: config.admin!.listen.port })
  if (!worker || cluster.worker?.id === 1) for (const warning of configWarnings(config)) gh.app.log.warn(warning)
  let closing = false
  const shutdown = (signal: string): void => {
    if (closing) return
    closing = true
    gh.app.log.info({ signal }, 'shutting down: draining in-flight requests')
    const force = setTimeout(() => { gh.app.log.warn('drain timed out; exiting'); process.exit(0) }, 25_000)
    force.unref()
    gh.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.once('SIGTERM', () => { shutdown('SIGTERM') })
  process.once('SIGINT', () => { shutdown('SIGINT') })
  if (worker) joinCluster(gh.admin, () => { shutdown('primary gone') })
  return gh
}

/**
 * The CLI's entry: with `workers` > 1 this process becomes the cluster
 * primary and each forked worker (which runs this again) serves the gateway.
 */
export async function serve (config: Config): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) {
    runPrimary(config)
    return
  }
  await run(config)
}
