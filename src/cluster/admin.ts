import cluster, { type Worker } from 'node:cluster'
import { createServer, type Server } from 'node:http'
import type { Config } from '../config/types.js'
import { mergeMetrics } from '../admin/metrics-merge.js'
import { isMessage, type AdminAnswer, type AdminAsk } from './messages.js'

const ADMIN_TIMEOUT_MS = 2_000

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

/**
 * The primary's admin listener: /healthz, /readyz and /metrics for all the
 * workers, each asked over IPC (the workers' own admin apps never listen).
 * `draining`: once a shutdown has begun, readiness fails at once.
 */
export function adminServer (config: Config, draining: () => boolean): Server {
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
