import t from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { EventEmitter } from 'node:events'
import { Pool } from 'undici'
import { forward, type UpstreamFailure } from '../../../src/proxy/forward.js'

interface Teardown { teardown (fn: () => unknown): void }

async function listen (t: Teardown, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = http.createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

interface Seen { failures: UpstreamFailure[], done: number[] }

/** A proxy whose only job is forward(): the unit under test. */
async function proxy (t: Teardown, upstream: string, opts: { setCookies?: string[], headersTimeout?: number } = {}): Promise<{ url: string, seen: Seen }> {
  const pool = new Pool(upstream, { connections: 4, headersTimeout: opts.headersTimeout ?? 10_000 })
  t.teardown(async () => pool.destroy())
  const seen: Seen = { failures: [], done: [] }
  const url = await listen(t, (req, res) => {
    forward(req, res, {
      pool,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: { 'x-from-proxy': '1', ...(req.headers['content-length'] !== undefined ? { 'content-length': req.headers['content-length'] } : {}) },
      setCookies: opts.setCookies,
      onError: (failure) => { seen.failures.push(failure); res.writeHead(failure === 'timeout' ? 504 : 502); res.end(failure) },
      onDone: (status) => { seen.done.push(status) },
    })
  })
  return { url, seen }
}

function get (url: string, opts: { method?: string, body?: Buffer } = {}): Promise<{ status: number, headers: http.IncomingHttpHeaders, rawHeaders: string[], body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

t.test('status, body and end-to-end headers pass; hop-by-hop do not; Gatehouse cookies are added', async (t) => {
  const upstream = await listen(t, (req, res) => {
    res.writeHead(201, [
      'Content-Type', 'text/plain',
      'X-Custom', 'kept',
      'Set-Cookie', 'app=1; Path=/',
      'Set-Cookie', 'app2=2; Path=/',
      'Proxy-Connection', 'drop-me',
      'Trailer', 'x-never',
      'X-Saw-Proxy-Header', String(req.headers['x-from-proxy']),
    ])
    res.end('created')
  })
  const { url, seen } = await proxy(t, upstream, { setCookies: ['gatehouse=sealed; Path=/; HttpOnly'] })
  const r = await get(`${url}/things?x=1`)
  t.equal(r.status, 201)
  t.equal(r.body.toString(), 'created')
  t.equal(r.headers['x-custom'], 'kept')
  t.equal(r.headers['x-saw-proxy-header'], '1', 'the upstream got the headers forward() was given')
  t.same(r.headers['set-cookie'], ['app=1; Path=/', 'app2=2; Path=/', 'gatehouse=sealed; Path=/; HttpOnly'], 'every Set-Cookie, in order, then the gateway\'s')
  t.equal(r.headers['proxy-connection'], undefined)
  t.equal(r.headers.trailer, undefined)
  t.same(seen, { failures: [], done: [201] })
})

t.test('large bodies stream both ways, to a slow reader too', async (t) => {
  const big = Buffer.alloc(4 * 1024 * 1024, 'abcdefgh')
  let received = 0
  const upstream = await listen(t, (req, res) => {
    req.on('data', (c: Buffer) => { received += c.length })
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      // Written in pieces, as fast as the socket takes them.
      let off = 0
      const pump = (): void => {
        while (off < big.length) {
          const piece = big.subarray(off, off + 65536)
          off += piece.length
          if (!res.write(piece)) { res.once('drain', pump); return }
        }
        res.end()
      }
      pump()
    })
  })
  const { url } = await proxy(t, upstream)
  const body = await new Promise<Buffer>((resolve, reject) => {
    const req = http.request(`${url}/upload`, { method: 'POST', agent: false, headers: { 'content-length': String(big.length) } }, (res) => {
      const chunks: Buffer[] = []
      // A slow reader: the proxy must hold back instead of buffering 4 MB.
      res.on('data', (c: Buffer) => { chunks.push(c); res.pause(); setTimeout(() => res.resume(), 1) })
      res.on('end', () => resolve(Buffer.concat(chunks)))
    })
    req.on('error', reject)
    req.end(big)
  })
  t.equal(received, big.length, 'request body arrived whole')
  t.equal(body.length, big.length, 'response body arrived whole')
  t.ok(body.equals(big))
})

t.test('an unreachable upstream and a silent one are told apart', async (t) => {
  const closed = await listen(t, () => {})
  const dead = closed.replace(/:\d+$/, ':1')
  const a = await proxy(t, dead)
  const r1 = await get(`${a.url}/`)
  t.equal(r1.status, 502)
  t.same(a.seen.failures, ['unreachable'])
  const silent = await listen(t, () => { /* never answers */ })
  const b = await proxy(t, silent, { headersTimeout: 200 })
  const r2 = await get(`${b.url}/`)
  t.equal(r2.status, 504)
  t.same(b.seen.failures, ['timeout'])
})

t.test('a client that goes away stops the upstream request', async (t) => {
  let upstreamClosed!: () => void
  const closedP = new Promise<void>((resolve) => { upstreamClosed = resolve })
  const upstream = await listen(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('first part\n')
    // ... and never ends; only an abort from the proxy closes this.
    res.on('close', () => { upstreamClosed() })
  })
  const { url } = await proxy(t, upstream)
  await new Promise<void>((resolve, reject) => {
    const req = http.get(`${url}/stream`, { agent: false }, (res) => {
      res.once('data', () => { req.destroy(); resolve() })
    })
    req.on('error', () => {})
    setTimeout(() => reject(new Error('no first chunk')), 5000)
  })
  const timer = new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 3000))
  t.equal(await Promise.race([closedP.then(() => 'closed'), timer]), 'closed')
})

function fakeDispatch (): { pool: Pool, res: EventEmitter & { full: boolean }, start: () => { handler: any, aborted: () => number } } {
  let handler: any
  const pool = { dispatch: (_opts: unknown, h: unknown) => { handler = h; return true } } as unknown as Pool
  // A response whose socket is full until told otherwise.
  const res = Object.assign(new EventEmitter(), {
    headersSent: false,
    full: true,
    writeHead (this: { headersSent: boolean }) { this.headersSent = true },
    write (this: { full: boolean }) { return !this.full },
    end () {},
    destroy () {},
  })
  const start = (): { handler: any, aborted: () => number } => {
    forward({ headers: {} } as unknown as IncomingMessage, res as unknown as ServerResponse, { pool, method: 'GET', path: '/', headers: {}, setCookies: undefined, onError: () => {} })
    let n = 0
    handler.onConnect(() => { n++ })
    return { handler, aborted: () => n }
  }
  return { pool, res, start }
}

t.test('backpressure: a full client socket pauses the upstream until it drains', async (t) => {
  const { res, start } = fakeDispatch()
  const { handler, aborted } = start()
  let resumed = 0
  t.equal(handler.onHeaders(200, [Buffer.from('content-type'), Buffer.from('text/plain')], () => { resumed++ }), true)
  t.equal(handler.onData(Buffer.from('x')), false, 'undici is told to stop reading')
  t.equal(resumed, 0)
  res.full = false
  res.emit('drain')
  t.equal(resumed, 1, 'reading resumes on drain')
  t.equal(handler.onData(Buffer.from('y')), true)
  res.emit('close')
  t.equal(aborted(), 1, 'a client gone before the end aborts the upstream request')
})

t.test('no abort once the response is complete', async (t) => {
  const { res, start } = fakeDispatch()
  const { handler, aborted } = start()
  res.full = false
  handler.onHeaders(200, [], () => {})
  handler.onData(Buffer.from('x'))
  handler.onComplete([])
  res.emit('close')
  t.equal(aborted(), 0)
})
