import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ERROR_CODES, ERROR_FAMILIES, GatewayError, LoginError, errorEntry, errorStatus } from '../../src/errors.js'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => join(dir, f))
}

/** Every `'GH_...'` literal and every `GH_..._${` template prefix in src/, with where it is. */
function codesInSource (): { literals: Map<string, string>, prefixes: Map<string, string> } {
  const literals = new Map<string, string>()
  const prefixes = new Map<string, string>()
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8')
    const where = relative(SRC, file)
    for (const m of text.matchAll(/'(GH_[A-Z0-9_]+)'/g)) literals.set(m[1]!, where)
    for (const m of text.matchAll(/`(GH_[A-Z0-9_]*)\$\{/g)) prefixes.set(m[1]!, where)
  }
  return { literals, prefixes }
}

t.test('every code in src/ is in the catalog', async (t) => {
  const { literals, prefixes } = codesInSource()
  t.ok(literals.size >= 30, `the scan finds the codes (${literals.size} literals)`)
  t.ok(prefixes.size >= 4, `the scan finds the built codes (${prefixes.size} prefixes)`)
  for (const [code, where] of literals) {
    t.ok(Object.hasOwn(ERROR_CODES, code) || Object.hasOwn(ERROR_FAMILIES, code), `${code} (${where}) is in the catalog`)
  }
  for (const [prefix, where] of prefixes) {
    t.ok(Object.hasOwn(ERROR_FAMILIES, prefix), `${prefix}\${...} (${where}) is a family in the catalog`)
  }
})

t.test('every catalog entry has an error status, a title and a message', async (t) => {
  for (const [code, e] of [...Object.entries(ERROR_CODES), ...Object.entries(ERROR_FAMILIES)]) {
    t.match(code, /^GH_[A-Z0-9_]+$/, `${code}: spelled as a code`)
    t.ok(Number.isInteger(e.status) && e.status >= 400 && e.status <= 599, `${code}: status ${e.status} is 4xx or 5xx`)
    t.ok(e.title.trim() !== '', `${code}: has a title`)
    t.ok(e.message.trim() !== '', `${code}: has a message`)
  }
  for (const prefix of Object.keys(ERROR_FAMILIES)) t.ok(prefix.endsWith('_'), `${prefix}: a family is a prefix ending in _`)
})

t.test('lookup: exact code first, then the longest family prefix', async (t) => {
  t.equal(errorEntry('GH_LOGIN_PROVIDER_ACCESS_DENIED')?.status, 403)
  t.equal(errorEntry('GH_LOGIN_PROVIDER_TEMPORARILY_WEIRD'), ERROR_FAMILIES.GH_LOGIN_PROVIDER_)
  t.equal(errorEntry('GH_LOGIN_ID_TOKEN_SOMETHING'), ERROR_FAMILIES.GH_LOGIN_ID_TOKEN_)
  t.equal(errorEntry('GH_LOGIN_UNAUTHORIZED_CLIENT'), ERROR_FAMILIES.GH_LOGIN_)
  t.equal(errorEntry('NOT_A_CODE'), undefined)
  t.equal(errorStatus('NOT_A_CODE'), 500, 'an unknown code is a bug: 500')
})

t.test('GatewayError: the status defaults from the catalog, an explicit one wins', async (t) => {
  const e = new GatewayError('GH_PROVIDER_NO_JWKS', 'no jwks')
  t.equal(e.status, 502)
  t.equal(e.expose, false)
  t.equal(e.message, 'no jwks')
  const cause = new Error('x')
  const l = new LoginError('GH_LOGIN_PROVIDER_ACCESS_DENIED', 'denied', { cause })
  t.equal(l.status, 403)
  t.equal(l.expose, true)
  t.equal(l.cause, cause)
  t.equal(new LoginError('GH_LOGIN_NO_STATE', 418, 'tea').status, 418)
})
