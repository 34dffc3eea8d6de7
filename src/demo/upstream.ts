import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { escapeHtml } from '../pages.js'

/**
 * An upstream that shows what it received: an HTML page for browsers, JSON
 * for everyone else (`Accept: application/json` or a path ending in `.json`).
 * The demo's application and the tests' echo server.
 */

export interface EchoRecord {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly rawHeaders: readonly string[]
  readonly body: string
}

export interface EchoUpstream {
  readonly url: string
  readonly port: number
  /** Requests received, newest last. */
  readonly received: EchoRecord[]
  close (): Promise<void>
}

function jwtPayload (token: string): string | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  try { return JSON.stringify(JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')), null, 2) } catch { return undefined }
}

function renderPage (r: EchoRecord): string {
  const rows = Object.entries(r.headers).map(([k, v]) => {
    const value = Array.isArray(v) ? v.join(', ') : v ?? ''
    const mark = k === 'authorization' || k.startsWith('x-forwarded-') ? ' class="id"' : ''
    return `<tr${mark}><th>${escapeHtml(k)}</th><td>${escapeHtml(value)}</td></tr>`
  }).join('')
  const auth = typeof r.headers.authorization === 'string' ? r.headers.authorization.replace(/^Bearer\s+/i, '') : ''
  const claims = auth !== '' ? jwtPayload(auth) : undefined
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo upstream</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top;word-break:break-all}th{width:16rem;background:#fafafa}tr.id td,tr.id th{background:#eef7ee}pre{background:#f6f6f6;padding:.6rem;overflow:auto}</style></head>
<body><h1>Demo upstream</h1><p>This application knows nothing about OAuth. Gatehouse signed you in and forwarded this request:</p>
<p><b>${escapeHtml(r.method)}</b> <code>${escapeHtml(r.url)}</code></p>
<table>${rows}</table>
${claims !== undefined ? `<h2>Bearer token claims</h2><pre>${escapeHtml(claims)}</pre>` : ''}
<p><a href="/.gatehouse/userinfo">/.gatehouse/userinfo</a> · <a href="/.gatehouse/logout">Sign out</a></p></body></html>`
}

export async function startEchoUpstream (opts: { port?: number, host?: string } = {}): Promise<EchoUpstream> {
  const received: EchoRecord[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const record: EchoRecord = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }
      received.push(record)
      if (received.length > 1000) received.shift()
      const path = (req.url ?? '/').split('?')[0]!
      if (path === '/slow') {
        // For timeout tests: never answers.
        return
      }
      if (path.startsWith('/delay/')) {
        // For drain tests: answers after N ms.
        setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('late') }, Number(path.slice(7)) || 0)
        return
      }
      if (path.startsWith('/status/')) {
        res.writeHead(Number(path.slice(8)) || 500, { 'content-type': 'text/plain', 'set-cookie': 'app=1; Path=/' })
        res.end('status')
        return
      }
      const wantsJson = path.endsWith('.json') || (req.headers.accept ?? '').includes('application/json') || !(req.headers.accept ?? '').includes('text/html')
      if (wantsJson) {
        const body = JSON.stringify(record)
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      } else {
        const body = renderPage(record)
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => { resolve() })
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    received,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    },
  }
}
