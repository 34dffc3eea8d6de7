import { fileURLToPath } from 'node:url'
import { dirname, resolve } from 'node:path'
import { loadConfigFile } from '../config/load.js'
import { run } from '../cli-run.js'
import { devClientFor, startDevProvider } from './idp.js'
import { startEchoUpstream } from './upstream.js'

/**
 * `npm start`: the whole product on one machine — a development identity
 * provider, a demo upstream that shows what it receives, and Gatehouse in
 * front of it, configured by config/demo.yaml.
 */
async function main (): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url))
  const file = process.env.GATEHOUSE_CONFIG ?? resolve(here, '../../config/demo.yaml')
  const config = loadConfigFile(file)
  const p = config.providers[0]!
  const issuer = new URL(p.issuer)
  const upstream = new URL(config.routes[0]!.upstream)
  const idp = await startDevProvider({
    port: Number(issuer.port),
    host: issuer.hostname,
    // Registered from the config, so switching `responseType` in demo.yaml is all it takes.
    clients: [devClientFor(p, config.publicOrigin)],
  })
  const app = await startEchoUpstream({ port: Number(upstream.port), host: upstream.hostname })
  const gh = await run(config)
  await gh.startProviders()
  const url = `${config.publicOrigin}/`
  process.stdout.write(`
  Gatehouse demo is running.

    Open:        ${url}
    Flow:        response_type=${p.responseType}, response_mode=${p.responseMode}
    Sign in as:  alice (group admins) or bob — any password
    Try also:    ${url}admin (admins only) · ${url}public (no sign-in) · ${url}.gatehouse/userinfo · ${url}.gatehouse/logout
    Admin:       http://${config.admin?.listen.host}:${config.admin?.listen.port}/readyz and /metrics
    Provider:    ${idp.issuer} (development identity provider, demo only)
    Upstream:    ${app.url} (shows the headers Gatehouse forwards)

  Press Ctrl+C to stop.
`)
  const stop = (): void => { void idp.close(); void app.close() }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed to start: ${(err as Error)?.message ?? String(err)}\n`)
  process.exit(1)
})
