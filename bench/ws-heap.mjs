// Heap a WebSocket tunnel keeps in Gatehouse, for bench/websocket.mjs: a
// gateway in this process (public route to the upstream), N idle WebSockets
// through it, the heap after full GCs, minus what the same N client sockets
// alone take (measured direct to the upstream first).
// Usage: node --expose-gc bench/ws-heap.mjs UPSTREAM_PORT N   (prints one JSON line)
import { parseConfig } from '../dist/config/load.js'
import { buildApp } from '../dist/app.js'
import { closeAll, openMany } from './lib/websocket.mjs'
import { sleep } from './lib/stack.mjs'

const [upPort, n] = process.argv.slice(2).map(Number)
const config = parseConfig(`
publicUrl: http://127.0.0.1:1
providers: [{ id: bench, issuer: https://id.example.com/, clientId: c, clientSecret: s }]
session: { secret: bench-session-secret-0123456789abcdef-0123456789 }
routes: [{ path: /, upstream: http://127.0.0.1:${upPort}, auth: public }]
`, { env: {} })
const gh = await buildApp(config, { logger: false })
await gh.app.listen({ host: '127.0.0.1', port: 0 })
const via = `ws://127.0.0.1:${gh.app.server.address().port}/`
const direct = `ws://127.0.0.1:${upPort}/`
const heap = () => { globalThis.gc(); globalThis.gc(); return process.memoryUsage().heapUsed }
// A 2 KB cookie of the application's, as a browser would send: none of it should stay.
const headers = { cookie: 'app=' + 'x'.repeat(2048) }
async function cost (url) {
  await sleep(300)
  const h0 = heap()
  const sockets = await openMany(url, headers, n)
  await sleep(500)
  const h1 = heap()
  await closeAll(sockets)
  return (h1 - h0) / n
}
await closeAll(await openMany(via, headers, 100))
const clients = await cost(direct)
const tunnelled = await cost(via)
await gh.close()
process.stdout.write(JSON.stringify({ n, clientBytes: Math.round(clients), tunnelBytes: Math.round(tunnelled - clients) }) + '\n')
process.exit(0)
