import { createServer } from 'node:http'
import t from 'tap'
import { WebSocketServer } from 'ws'
import { echoRate, idleCost, openSocket } from '../../bench/lib/websocket.mjs'

// The WebSocket benchmark's measurements, against an in-process echo server.

t.test('echoRate counts echoed messages and the hop\'s CPU; idleCost reads RSS', async (t) => {
  const server = createServer()
  const wss = new WebSocketServer({ server })
  let received = 0
  wss.on('connection', (ws) => { ws.on('message', (m) => { received++; ws.send(m) }) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const c of wss.clients) c.terminate(); server.close() })
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/`
  const r = await echoRate(url, {}, { connections: 4, seconds: 0.3, size: 16 }, process.pid)
  t.ok(r.rate > 0, `${r.rate.toFixed(0)} msg/s`)
  t.ok(received > 0 && Math.abs(r.rate * 0.3 - received) / received < 0.5, 'the rate matches what the server echoed')
  t.ok(r.usPerMessage !== undefined && r.usPerMessage > 0, 'CPU per message of the hop process')
  t.equal((await echoRate(url, {}, { connections: 1, seconds: 0.05, size: 1 })).usPerMessage, undefined, 'no hop, no CPU figure')
  const idle = await idleCost(url, {}, process.pid, 20, 100)
  t.equal(idle.n, 20)
  t.ok(idle.before > 0 && idle.one > 0 && idle.two > 0)
  t.equal(wss.clients.size, 0, 'every idle socket closed again')
  await t.rejects(openSocket(url.replace(/^ws:\/\/127\.0\.0\.1:\d+/, 'ws://127.0.0.1:1')), 'a refused connection rejects')
})
