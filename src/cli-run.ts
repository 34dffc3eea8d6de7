import { buildApp, type GatehouseApp } from './app.js'
import type { Config } from './config/types.js'
import { configWarnings } from './config/validate.js'

/** Runs the gateway until SIGTERM/SIGINT, then drains in-flight requests and exits. */
export async function run (config: Config): Promise<GatehouseApp> {
  const gh = await buildApp(config)
  await gh.app.listen({ host: config.listen.host, port: config.listen.port })
  if (gh.admin !== undefined) await gh.admin.listen({ host: config.admin!.listen.host, port: config.admin!.listen.port })
  for (const warning of configWarnings(config)) gh.app.log.warn(warning)
  // Discovery runs in the background with retries; /readyz reports it.
  void gh.startProviders()
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
  return gh
}
