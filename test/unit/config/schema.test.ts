import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { loadConfigFile } from '../../../src/config/load.js'
import { configSchema } from '../../../src/config/schema.js'
import { validateConfig } from '../../../src/config/validate.js'
import type { JsonSchema } from '../../../src/config/fields.js'
import { selfSigned } from '../../fixtures/tls.js'

// `gatehouse schema` and `gatehouse check` must agree: the schema is
// generated from the validator's own field definitions, and these tests hold
// the two to the same verdicts.

type Obj = Record<string, unknown>
// tls names files that validation reads: a real pair.
const TLS = selfSigned(mkdtempSync(join(tmpdir(), 'gatehouse-schema-')), 'schema')
const schema = configSchema()
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true })
const validate = ajv.compile(schema)
const schemaErrors = (v: unknown): string => ajv.errorsText(validate(v) ? null : validate.errors)

/** Every map of the schema (additionalProperties: false), with the path validate uses for it. */
function objects (s: JsonSchema, path: string, out: [string, JsonSchema][] = []): [string, JsonSchema][] {
  if (s.type === 'object' && s.properties !== undefined) {
    out.push([path, s])
    for (const [k, p] of Object.entries(s.properties as Record<string, JsonSchema>)) {
      const child = path === '' ? k : `${path}.${k}`
      if (p.type === 'array' && (p.items as JsonSchema).type === 'object') objects(p.items as JsonSchema, `${child}[0]`, out)
      else objects(p, child, out)
    }
  }
  return out
}

/** A valid raw config in which every map of the schema is present. */
const base = (): Obj => ({
  publicUrl: 'https://app.example.com',
  tls: { certFile: TLS.certFile, keyFile: TLS.keyFile },
  admin: { listen: '127.0.0.1:9901' },
  log: {},
  limits: {},
  upstream: {},
  providers: [{ issuer: 'https://id.example.com/', clientId: 'c', clientSecret: 'provider-issued-secret' }],
  session: { secret: 'schema-test-session-secret-0123456789abcdef', redis: { url: 'redis://127.0.0.1:6379' }, memory: {} },
  routes: [{ upstream: 'http://127.0.0.1:3000', allow: {}, acceptBearer: {}, upstreamToken: { clientCredentials: {} } }],
  assertion: {},
  reload: {},
})

/** Sets `value` at a validate-style path (`providers[0].issuer`) in a copy of `obj`. */
function withValue (obj: Obj, path: string, value: unknown): Obj {
  const copy = structuredClone(obj)
  const keys = path.split('.').flatMap((k) => { const m = /^(.+)\[(\d+)\]$/.exec(k); return m !== null ? [m[1]!, Number(m[2])] : [k] })
  let node = copy as Record<string | number, unknown>
  for (const k of keys.slice(0, -1)) node = node[k] as Record<string | number, unknown>
  node[keys.at(-1)!] = value
  return copy
}

const maps = objects(schema, '')

t.test('the schema is draft 2020-12 and compiles in strict mode', async (t) => {
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  t.ok(maps.length >= 10, `${maps.length} maps: ${maps.map(([p]) => p || '(top)').join(', ')}`)
  t.ok(validate(base()), schemaErrors(base()))
  t.same(validateConfig(base()).problems, [])
})

t.test('every map: the same fields in validate and the schema, unknown fields refused by both', async (t) => {
  for (const [path, s] of maps) {
    t.equal(s.additionalProperties, false, `${path || '(top)'}: additionalProperties false`)
    const probe = path === '' ? 'zzzUnknown' : `${path}.zzzUnknown`
    const raw = withValue(base(), probe, 1)
    const problem = validateConfig(raw).problems.find((p) => p.startsWith(`${probe}: unknown field`))
    t.ok(problem, `validate refuses ${probe}`)
    const expected = /\(expected one of: (.*)\)$/.exec(problem ?? '')?.[1]?.split(', ') ?? []
    t.same([...expected].sort(), Object.keys(s.properties as Obj).sort(), `${path || '(top)'}: validate's fields are the schema's properties`)
    t.notOk(validate(raw), `the schema refuses ${probe}`)
  }
})

t.test('every field: a value of the wrong shape is refused by both', async (t) => {
  let fields = 0
  for (const [path, s] of maps) {
    for (const key of Object.keys(s.properties as Obj)) {
      const p = path === '' ? key : `${path}.${key}`
      // A list of maps is the wrong shape for every field that is not itself a list of maps.
      const raw = withValue(base(), p, [{ zzz: {} }])
      if (p === 'providers' || p === 'routes') continue
      fields++
      const problems = validateConfig(raw).problems
      t.ok(problems.some((x) => x.startsWith(p)), `validate refuses ${p}: ${problems.join('; ')}`)
      t.notOk(validate(raw), `the schema refuses ${p}`)
    }
  }
  t.ok(fields > 60, `${fields} fields probed`)
})

t.test('a file that sets every field: valid for validate and for the schema', async (t) => {
  const file = 'test/fixtures/config/every-field.yaml'
  const raw = parse(readFileSync(file, 'utf8')) as Obj
  t.ok(validate(raw), schemaErrors(raw))
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const files: Record<string, string> = {
    '/run/secrets/partner-client': 'partner-secret\n',
    '/run/secrets/private-key.pem': pem,
    '/run/secrets/session': 'every-field-session-secret-0123456789abcdef\nold-every-field-secret-0123456789abcdef\n',
    '/run/secrets/redis-url': 'redis://:pw@redis.example:6379/2',
    '/run/tls/tls.crt': TLS.cert,
    '/run/tls/tls.key': TLS.key,
    '/run/secrets/upstream-token': 'static-upstream-token-0123456789\n',
  }
  const c = loadConfigFile(file, { env: { CLIENT_SECRET: 'main-secret' }, readFile: (p) => files[p]! })
  t.equal(c.providers[2]!.tokenEndpointAuthMethod, 'private_key_jwt')
  t.equal(c.session.secrets.length, 2)
  t.equal(c.session.redis?.url, 'redis://:pw@redis.example:6379/2')
  t.equal(c.session.redis?.localCacheTtl, 2_000)
  t.equal(c.log.flushInterval, 250)
  t.equal(c.tls?.cert, TLS.cert)
  t.same(c.routes[0]!.methods, ['GET', 'HEAD', 'POST'])
  t.equal(c.routes[2]!.pathRegex, '^/api/v[0-9]+/health$')
  t.same(c.routes[1]!.upstreamToken, { kind: 'static', token: 'static-upstream-token-0123456789' })
  t.same(c.routes[0]!.acceptBearer, { providers: ['partner'], audiences: ['https://api.example.com'], introspect: true })
  t.equal(c.assertion.key, pem.replace(/\n$/, ''), 'assertion.keyFile is read')
  t.same(c.routes[0]!.providers, ['partner', 'main'])
  // Every map of the schema appears in the file, so no section is left untested.
  const written = new Set<string>()
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) { if (v.length > 0 && typeof v[0] === 'object') walk(v[0], `${path}[0]`); return }
    if (v === null || typeof v !== 'object') return
    written.add(path)
    for (const [k, x] of Object.entries(v)) if (!['authorizationParams', 'headers', 'claims'].includes(k)) walk(x, path === '' ? k : `${path}.${k}`)
  }
  walk(raw, '')
  for (const [path] of maps) t.ok(written.has(path), `the file has ${path || '(top)'}`)
})

t.test('the shipped examples, the demo and the Kubernetes ConfigMaps validate against the schema', async (t) => {
  const files = ['config/demo.yaml', ...readdirSync('config/examples').filter((f) => f.endsWith('.yaml')).map((f) => join('config/examples', f))]
  t.ok(files.length >= 6)
  for (const f of files) {
    const raw = parse(readFileSync(f, 'utf8')) as unknown
    t.ok(validate(raw), `${f}: ${schemaErrors(raw)}`)
  }
  for (const f of ['deploy/sidecar.yaml', 'deploy/gateway.yaml']) {
    const maps = parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as { kind?: string, data?: Record<string, string> }).filter((d) => d.kind === 'ConfigMap')
    t.ok(maps.length > 0, `${f} has a ConfigMap`)
    for (const m of maps) {
      const raw = parse(m.data!['gatehouse.yaml']!) as unknown
      t.ok(validate(raw), `${f}: ${schemaErrors(raw)}`)
    }
  }
})

t.test('the schema refuses what an editor should flag', async (t) => {
  const cases: [string, unknown][] = [
    ['providers[0].responseType', 'refresh_token'],
    ['routes[0].auth', 'sometimes'],
    ['session.store', 'disk'],
    ['listen', 'nowhere'],
    ['session.idleTimeout', 'forever'],
    ['workers', 0],
    ['session.cookieDomain', 'not a domain!!'],
    ['providers[0].id', 'has space'],
  ]
  for (const [path, value] of cases) {
    const raw = withValue(base(), path, value)
    t.notOk(validate(raw), `schema: ${path}: ${JSON.stringify(value)}`)
    t.ok(validateConfig(raw).problems.some((p) => p.startsWith(path)), `validate: ${path}: ${JSON.stringify(value)}`)
  }
  t.ok(validate(withValue(base(), 'workers', '${WORKERS}')), 'an environment reference is accepted anywhere')
  t.ok(validate(withValue(base(), 'providers[0].responseType', '${RT:-code}')), 'with a default too')
})
