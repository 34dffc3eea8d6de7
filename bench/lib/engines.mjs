// `--engines`: the same load through several ways of forwarding, no
// authentication, each in its own process, CPU per request compared.
import path from 'node:path'
import { runRounds } from './measure.mjs'
import { aggregate, resultsTable } from './report.mjs'
import { ROOT, freePort, waitHttp } from './stack.mjs'

export const VARIANTS = {
  'node-stream': 'node:http + undici Pool.stream() (the issue\'s "Node limit")',
  'node-dispatch': 'node:http + Gatehouse\'s forward() (undici dispatch handler)',
  'fastify-hijack': 'Fastify route, reply.hijack() + Gatehouse\'s forward() (undici dispatch), no logger',
  'fastify-hijack-logger': 'the same with a pino logger on the Fastify instance (as Gatehouse has)',
  'fastify-reply-from': 'Fastify + @fastify/reply-from reply.from()',
  'fastify-http-proxy': 'Fastify + @fastify/http-proxy (reply-from inside)',
}

/**
 * Starts every variant, loads each (and Gatehouse's public route) in
 * alternating rounds, returns the Markdown table.
 */
export async function runEngines ({ procs, opts, env, log, upstream, gatehouse }) {
  const cases = [{ key: 'direct', label: 'direct to the upstream', url: `${upstream}/`, expect: 200, headers: async () => ({}), pid: undefined }]
  for (const [v, label] of Object.entries(VARIANTS)) {
    const port = await freePort()
    const p = procs.start(v, process.execPath, [path.join(ROOT, 'bench', 'engine-variant.mjs'), v, String(port), upstream], { env: { NODE_ENV: 'production' } })
    await waitHttp(`http://127.0.0.1:${port}/`, { proc: p, status: 200 })
    cases.push({ key: v, label, url: `http://127.0.0.1:${port}/public/item`, expect: 200, headers: async () => ({}), pid: p.pid })
  }
  cases.push({ key: 'gatehouse-public', label: 'Gatehouse, public route (routing, header rules, metrics)', url: `http://127.0.0.1:${gatehouse.port}/public/item`, expect: 200, headers: async () => ({}), pid: gatehouse.proc.pid })
  const results = await runRounds(cases, opts, env, log)
  const rows = aggregate(results, cases.map((c) => c.key))
  return resultsTable(rows, Object.fromEntries(cases.map((c) => [c.key, c.label])))
}
