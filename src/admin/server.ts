import Fastify, { type FastifyInstance } from 'fastify'
import type { Gateway } from '../context.js'

/**
 * The admin listener: health, readiness and metrics, kept off the proxy port
 * so they are never exposed through the public route table.
 */
export function buildAdmin (gw: Gateway): FastifyInstance {
  const admin = Fastify({ logger: false })
  admin.get('/healthz', async () => ({ status: 'ok' }))
  admin.get('/readyz', async (_req, reply) => {
    const providers = Object.fromEntries([...gw.providers].map(([id, p]) => [id, p.ready]))
    const store = gw.sessions.ready()
    const ready = store && Object.values(providers).every(Boolean)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', providers, store: { kind: gw.sessions.store.kind, ready: store } })
  })
  admin.get('/metrics', async (_req, reply) => reply.type(gw.metrics.registry.contentType).send(await gw.metrics.render()))
  return admin
}
