import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url))
const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => join(SRC, f))

t.test('no private Fastify internals are read', async (t) => {
  t.ok(files.length > 40, `the scan sees src/ (${files.length} files)`)
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    const where = relative(SRC, file)
    t.notMatch(text, /getOwnPropertySymbols\s*\(/, `${where}: no symbol-keyed lookups`)
    t.notMatch(text, /['"`]fastify\.[a-zA-Z]+['"`]/, `${where}: no private fastify.* keys`)
    t.notMatch(text, /from ['"]fastify\/lib\//, `${where}: no imports from fastify/lib`)
  }
})

t.test('the decision core is pure: no I/O, no Fastify, no clock of its own', async (t) => {
  for (const name of ['decide.ts', 'facts.ts']) {
    const text = readFileSync(join(SRC, 'pipeline', name), 'utf8')
    const valueImports = text.split('\n').filter((l) => l.startsWith('import ') && !l.startsWith('import type '))
    t.same(valueImports.filter((l) => /from '(fastify|undici|ioredis|openid-client|node:[a-z_]+)'/.test(l)), [], `${name}: no I/O modules`)
    t.notMatch(text, /Date\.now\(\)|performance\.now\(\)/, `${name}: time comes in as an argument`)
    t.notMatch(text, /\bawait\b|\basync\b/, `${name}: synchronous`)
  }
})
