// Heap taken by N sessions held server-side, for `npm run bench -- --scale`.
// Uses the memory session store when the config accepts `session.store: memory`;
// otherwise an LRU of session objects by id (what such a store holds), and says so.
// Usage: node --expose-gc bench/session-memory.mjs N   (prints one JSON line)
import { randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { parseConfig } from '../dist/config/load.js'

const n = Number(process.argv[2])
const token = (bytes) => randomBytes(bytes).toString('base64url')
const GROUPS = Array.from({ length: 8 }, (_, i) => `cn=team-${String(i).padStart(2, '0')},ou=groups,dc=corp`)

/** A session as a real login makes it: ~1 KB ID token, ~1 KB JWT access token, refresh token, claims. */
function session (i, now) {
  return {
    v: 1,
    id: token(16),
    provider: 'bench',
    iat: now,
    seen: now,
    sub: `user${i}`,
    claims: { sub: `user${i}`, email: `user${i}@bench.example`, email_verified: true, name: `User ${i}`, preferred_username: `user${i}`, groups: [...GROUPS] },
    idToken: token(800),
    accessToken: token(780),
    refreshToken: token(32),
    expiresAt: now + 3_600_000,
  }
}

function heap () {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed
}

let store
let what
try {
  const config = parseConfig(`
publicUrl: http://127.0.0.1:1
providers: [{ id: bench, issuer: http://127.0.0.1:2, clientId: c, clientSecret: s }]
session: { secret: bench-session-secret-0123456789abcdef-0123456789, store: memory, memory: { maxSessions: ${n} } }
routes: [{ path: /, upstream: http://127.0.0.1:3 }]
`, { env: {} })
  const { buildApp } = await import('../dist/app.js')
  const gh = await buildApp(config, { logger: false })
  store = gh.gateway.sessions.store
  what = `Gatehouse's memory store (${store.kind})`
} catch (err) {
  const lru = new LRUCache({ max: n })
  store = { save: (s) => { lru.set(s.id, s); return s.id }, get size () { return lru.size } }
  what = `LRU of session objects by id (the memory store is not available: ${err.problems?.join('; ') ?? err.message})`
}
const now = Date.now()
const before = heap()
for (let i = 0; i < n; i++) {
  const t = store.save(session(i, now), now, true)
  if (t instanceof Promise) await t
}
const after = heap()
process.stdout.write(JSON.stringify({ n, bytes: after - before, what, held: store.size }) + '\n')
process.exit(0)
