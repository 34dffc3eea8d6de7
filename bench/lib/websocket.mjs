// WebSocket measurements for bench/websocket.mjs: echo messages per second
// over N connections ping-ponging, and the memory idle connections take.
import { performance } from 'node:perf_hooks'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { WebSocket } from 'ws'
import { CLK_TCK } from './measure.mjs'
import { parseRss, parseStat } from './proc.mjs'
import { sleep } from './stack.mjs'

/** Opens one WebSocket (no compression); rejects on any answer but 101. */
export function openSocket (url, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false })
    ws.once('open', () => { resolve(ws) })
    ws.once('error', reject)
    ws.once('unexpected-response', (req, res) => { req.destroy(); reject(new Error(`${url}: HTTP ${res.statusCode}`)) })
  })
}

/** Opens `n` sockets, `batch` at a time. */
export async function openMany (url, headers, n, batch = 100) {
  const out = []
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => openSocket(url, headers))))
  }
  return out
}

/** Closes sockets and waits until every one has closed (at most 10 s). */
export async function closeAll (sockets) {
  await Promise.race([
    Promise.all(sockets.map((ws) => new Promise((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) { resolve(); return }
      ws.once('close', resolve)
      ws.close()
    }))),
    sleep(10_000),
  ])
  for (const ws of sockets) ws.terminate()
}

/** CPU seconds (user + system) a process has used. */
function cpuSeconds (pid) {
  const s = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  return (s.utime + s.stime) / CLK_TCK
}

/**
 * Echo rate: `connections` sockets each send a `size`-byte message, wait for
 * its echo, and send the next, for `seconds`. Returns messages echoed per
 * second and, when `hop` (the PID of the process in between) is given, its
 * CPU time per message in µs (each message crosses it twice: there and back).
 */
export async function echoRate (url, headers, { connections, seconds, size }, hop) {
  const sockets = await openMany(url, headers, connections)
  const payload = Buffer.alloc(size, 0x61)
  let count = 0
  let running = true
  const cpu0 = hop !== undefined ? cpuSeconds(hop) : 0
  const t0 = performance.now()
  const stop = setTimeout(() => { running = false }, seconds * 1000)
  await Promise.all(sockets.map((ws) => new Promise((resolve, reject) => {
    ws.on('message', () => {
      count++
      if (running) ws.send(payload)
      else resolve()
    })
    ws.once('close', () => { reject(new Error('a socket closed during the run')) })
    ws.send(payload)
  })))
  const elapsed = (performance.now() - t0) / 1000
  const cpu = hop !== undefined ? cpuSeconds(hop) - cpu0 : undefined
  clearTimeout(stop)
  for (const ws of sockets) ws.removeAllListeners('close')
  await closeAll(sockets)
  return { rate: count / elapsed, usPerMessage: cpu !== undefined ? (cpu / count) * 1e6 : undefined }
}

/** Resident set size of a process, in bytes. */
export function rss (pid) {
  return parseRss(readFileSync(`/proc/${pid}/status`, 'utf8'))
}

/**
 * What idle WebSockets cost a process: its RSS before, with `n` open and
 * silent, and with `2n` (`settleMs` after each step). The first step also
 * pays one-time growth (heap spaces, compiled code); the second is the
 * steady cost per socket.
 */
export async function idleCost (url, headers, pid, n, settleMs = 3000) {
  await sleep(1000)
  const before = rss(pid)
  const first = await openMany(url, headers, n)
  await sleep(settleMs)
  const one = rss(pid)
  const second = await openMany(url, headers, n)
  await sleep(settleMs)
  const two = rss(pid)
  await closeAll([...first, ...second])
  return { n, before, one, two, firstPerThousand: ((one - before) / n) * 1000, perThousand: ((two - one) / n) * 1000 }
}

/**
 * Opens one HTTP/1.1 keep-alive connection, makes one request (`headers`
 * sent) and keeps the connection open and silent once the answer is read
 * (a 200 with Content-Length). Resolves with the socket.
 */
export function keepAliveConnection (port, path, headers) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1')
    let got = ''
    s.setEncoding('latin1')
    s.once('error', reject)
    s.on('data', function onData (chunk) {
      got += chunk
      const end = got.indexOf('\r\n\r\n')
      if (end === -1) return
      const status = got.slice(9, 12)
      const len = /\r\ncontent-length: *(\d+)/i.exec(got.slice(0, end))
      if (status !== '200' || len === null) { s.destroy(); reject(new Error(`keep-alive request: HTTP ${status}`)); return }
      if (got.length < end + 4 + Number(len[1])) return
      s.off('data', onData)
      resolve(s)
    })
    const lines = Object.entries({ host: `127.0.0.1:${port}`, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('')
    s.write(`GET ${path} HTTP/1.1\r\n${lines}\r\n`)
  })
}

/** What idle keep-alive connections (one authenticated request each) cost a process: as idleCost(). */
export async function idleKeepAliveCost (port, path, headers, pid, n, settleMs = 3000, batch = 100) {
  const openN = async () => {
    const out = []
    for (let i = 0; i < n; i += batch) out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => keepAliveConnection(port, path, headers))))
    return out
  }
  await sleep(1000)
  const before = rss(pid)
  const first = await openN()
  await sleep(settleMs)
  const one = rss(pid)
  const second = await openN()
  await sleep(settleMs)
  const two = rss(pid)
  for (const s of [...first, ...second]) s.destroy()
  return { n, before, one, two, firstPerThousand: ((one - before) / n) * 1000, perThousand: ((two - one) / n) * 1000 }
}
