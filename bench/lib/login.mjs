// A real OIDC login over plain HTTP: follows redirects, fills the development
// provider's login and consent forms, keeps cookies per origin (tough-cookie),
// and returns the Cookie header the gateway set for its own origin.
import http from 'node:http'
import { CookieJar } from 'tough-cookie'

const NAVIGATE = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'user-agent': 'gatehouse-bench/1',
}

/**
 * One HTTP request on a fresh connection; resolves with status, headers, body text.
 * @param {string} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: string }} [opts]
 * @returns {Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders, text: string }>}
 */
export function request (url, opts = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const headers = { ...opts.headers }
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body))
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', agent: false, headers }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout ${opts.method ?? 'GET'} ${url}`)))
    req.on('error', reject)
    if (opts.body !== undefined) req.write(opts.body)
    req.end()
  })
}

function decodeEntities (s) {
  return s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>')
}

function parseForm (html, base) {
  const m = /<form\b[^>]*>[\s\S]*?<\/form>/i.exec(html)
  if (m === null) return undefined
  const form = m[0]
  const action = /\baction="([^"]*)"/i.exec(form)?.[1]
  const method = (/\bmethod="([^"]*)"/i.exec(form)?.[1] ?? 'get').toLowerCase()
  const fields = {}
  for (const inp of form.matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(inp[0])?.[1]
    if (name !== undefined) fields[name] = decodeEntities(/\bvalue="([^"]*)"/i.exec(inp[0])?.[1] ?? '')
  }
  return { action: new URL(decodeEntities(action ?? base), base).href, method, fields }
}

/**
 * Logs `user` in through the gateway at `url` and returns the gateway's
 * Cookie header (its session cookie and chunks), the last response and the hop count.
 * Cookies are not port-scoped, so the jar also holds the provider's own
 * cookies for 127.0.0.1; only the gateway's (`cookiePrefix`) are returned.
 * @param {string} url a protected URL of the gateway
 * @param {string} [user]
 * @param {string} [cookiePrefix]
 */
export async function login (url, user = 'alice', cookiePrefix = 'gatehouse') {
  const jar = new CookieJar()
  let current = url
  let method = 'GET'
  let body
  for (let hop = 1; hop <= 30; hop++) {
    const cookie = await jar.getCookieString(current)
    const headers = { ...NAVIGATE, ...(cookie !== '' ? { cookie } : {}), ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) }
    const res = await request(current, { method, headers, ...(body !== undefined ? { body } : {}) })
    for (const sc of [].concat(res.headers['set-cookie'] ?? [])) await jar.setCookie(sc, current, { ignoreError: true })
    if (res.status >= 300 && res.status < 400 && res.headers.location !== undefined) {
      current = new URL(res.headers.location, current).href
      method = 'GET'
      body = undefined
      continue
    }
    const form = res.status === 200 && String(res.headers['content-type']).includes('html') ? parseForm(res.text, current) : undefined
    if (form !== undefined && (form.fields.prompt === 'login' || form.fields.prompt === 'consent')) {
      if (form.fields.prompt === 'login') { form.fields.login = user; form.fields.password = 'any' }
      current = form.action
      method = form.method === 'post' ? 'POST' : 'GET'
      body = new URLSearchParams(form.fields).toString()
      if (method === 'GET') { const u = new URL(current); u.search = body; current = u.href; body = undefined }
      continue
    }
    if (res.status !== 200) throw new Error(`login at ${url} ended with HTTP ${res.status}: ${res.text.slice(0, 200)}`)
    const cookieHeader = (await jar.getCookies(url)).filter((c) => c.key.startsWith(cookiePrefix)).map((c) => c.cookieString()).join('; ')
    if (cookieHeader === '') throw new Error(`login at ${url} produced no gateway cookie`)
    return { cookie: cookieHeader, hops: hop, last: res }
  }
  throw new Error(`login at ${url}: too many hops`)
}
