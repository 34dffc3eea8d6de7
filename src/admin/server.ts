import Fastify, { type FastifyInstance } from 'fastify'
import type { GatewayRef } from '../context.js'

/**
 * The admin listener: health, readiness and metrics, kept off the proxy port
 * so they are never exposed through the public route table. `draining`:
 * once a shutdown has begun, readiness fails at once so load balancers stop
 * sending traffic while the proxy still serves.
 */
export function buildAdmin (ref: GatewayRef, draining: () => boolean = () => false): FastifyInstance {
  const admin = Fastify({ logger: false })
  admin.get('/healthz', async () => ({ status: 'ok' }))
  admin.get('/readyz', async (_req, reply) => {
    const gw = ref.current
    if (draining()) return reply.code(503).send({ status: 'draining' })
    const providers = Object.fromEntries([...gw.providers].map(([id, p]) => [id, p.ready]))
    const store = gw.sessions.ready()
    const ready = store && Object.values(providers).every(Boolean)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', providers, store: { kind: gw.sessions.store.kind, ready: store } })
  })
  admin.get('/metrics', async (_req, reply) => { const m = ref.current.metrics; return reply.type(m.registry.contentType).send(await m.render()) })
  return admin
}
