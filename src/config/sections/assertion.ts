import { assertionKeyProblem } from '../../auth/assertion.js'
import { duration, section, text } from '../fields.js'
import type { AssertionConfig } from '../types.js'
import { HEADER_NAME, RESERVED_HEADERS } from './routes.js'

const MIN_TTL_MS = 10_000
const MAX_TTL_MS = 3_600_000

/** The signed identity assertion sent upstream on routes with `assertion: true` (auth/assertion.ts). */
export const assertion = section({
  header: text({
    def: 'X-Gatehouse-Assertion',
    description: 'the request header that carries the assertion upstream; stripped from every incoming request',
    pattern: { re: HEADER_NAME, message: (v) => `not a valid HTTP header name: ${JSON.stringify(v)}` },
  }),
  ttl: duration({ def: '60s', description: 'lifetime of one assertion (exp - iat), 10s to 1h; one is reused until a third of it is left' }),
  key: text({ secret: true, description: 'the ES256 signing key: EC P-256 private key as PEM or JWK (usually keyFile); default: generated at start, a new one on every start' }),
}, {
  description: 'the signed identity assertion (an ES256 JWT; public key at /.gatehouse/jwks)',
  build (v, c, { path }): AssertionConfig {
    const p = (k: string): string => path === '' ? k : `${path}.${k}`
    if (RESERVED_HEADERS.has(v.header.toLowerCase().replaceAll('_', '-'))) c.add(p('header'), 'this header is managed by the proxy and cannot carry the assertion')
    if (v.ttl < MIN_TTL_MS || v.ttl > MAX_TTL_MS) c.add(p('ttl'), `must be from 10s to 1h, got ${v.ttl / 1000}s`)
    else if (v.ttl % 1000 !== 0) c.add(p('ttl'), 'must be whole seconds (iat and exp are in seconds)')
    if (v.key !== undefined) {
      const problem = assertionKeyProblem(v.key)
      if (problem !== undefined) c.add(p('key'), problem)
    }
    return { header: v.header, ttl: v.ttl, ...(v.key !== undefined ? { key: v.key } : {}) }
  },
})
