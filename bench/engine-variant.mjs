// One proxy engine, no authentication, for `npm run bench -- --engines`:
// what forwarding itself costs per request with each way of doing it.
// Usage: node bench/engine-variant.mjs VARIANT PORT UPSTREAM_URL
import http from 'node:http'
import { Pool } from 'undici'

const [variant, portText, upstream] = process.argv.slice(2)
const port = Number(portText)
const pool = () => new Pool(upstream, { connections: 64, keepAliveTimeout: 4_000 })
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'])

function requestHeaders (incoming) {
  const out = {}
  for (const k in incoming) if (!HOP.has(k)) out[k] = incoming[k]
  return out
}

async function start () {
  if (variant === 'node-stream') {
    // The floor for one hop in Node: node:http in, undici Pool.stream() out.
    const p = pool()
    const server = http.createServer((req, res) => {
      p.stream({ method: req.method, path: req.url, headers: requestHeaders(req.headers), body: null }, ({ statusCode, headers }) => {
        const out = []
        for (const k in headers) if (!HOP.has(k)) out.push(k, headers[k])
        res.writeHead(statusCode, out)
        return res
      }).catch(() => { if (!res.headersSent) { res.writeHead(502); res.end() } else res.destroy() })
    })
    server.keepAliveTimeout = 60_000
    return new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  }
  if (variant === 'node-dispatch') {
    // node:http in, Gatehouse's forward() (undici dispatch handler) out.
    const { forward } = await import('../dist/proxy/forward.js')
    const p = pool()
    const server = http.createServer((req, res) => {
      forward(req, res, { pool: p, method: req.method, path: req.url, headers: requestHeaders(req.headers), setCookies: undefined, onError: () => { res.destroy() } })
    })
    server.keepAliveTimeout = 60_000
    return new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  }
  const { default: Fastify } = await import('fastify')
  // With a logger (as Gatehouse has), Fastify makes a child logger and adds response listeners per request.
  const app = Fastify({ logger: variant === 'fastify-hijack-logger' ? { level: 'info' } : false, disableRequestLogging: true })
  if (variant === 'fastify-hijack' || variant === 'fastify-hijack-logger') {
    // Gatehouse's engine (dist/proxy/forward.js) behind reply.hijack(), without authentication.
    const { forward } = await import('../dist/proxy/forward.js')
    const p = pool()
    app.all('/*', (request, reply) => {
      reply.hijack()
      forward(request.raw, reply.raw, {
        pool: p,
        method: request.method,
        path: request.raw.url,
        headers: requestHeaders(request.headers),
        setCookies: undefined,
        onError: () => { reply.raw.destroy() },
      })
    })
  } else if (variant === 'fastify-reply-from') {
    const { default: replyFrom } = await import('@fastify/reply-from')
    await app.register(replyFrom, { base: upstream, undici: { connections: 64, keepAliveTimeout: 4_000 } })
    app.all('/*', (request, reply) => reply.from(request.raw.url))
  } else if (variant === 'fastify-http-proxy') {
    const { default: httpProxy } = await import('@fastify/http-proxy')
    await app.register(httpProxy, { upstream, undici: { connections: 64, keepAliveTimeout: 4_000 } })
  } else {
    throw new Error(`unknown variant ${variant}`)
  }
  app.server.keepAliveTimeout = 60_000
  await app.listen({ port, host: '127.0.0.1' })
}

start().then(() => { process.stdout.write(`${variant} listening on 127.0.0.1:${port}\n`) }, (err) => { process.stderr.write(`${err.stack}\n`); process.exit(1) })
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
