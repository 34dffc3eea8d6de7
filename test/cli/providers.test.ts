import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

// The provider examples are complete files an operator copies: the built CLI
// must accept each as it is (with its two secrets supplied), and each guide
// must show its example byte for byte, so a guide and its file cannot drift.
const CLI = join(process.cwd(), 'dist/cli.js')
const EXAMPLES = join('config', 'examples', 'providers')
const GUIDES = join('docs', 'providers')
const env = { ...process.env, CLIENT_SECRET: 'provider-issued-client-secret', SESSION_SECRET: 'an-example-session-secret-0123456789abcdef' }
const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort()
const guides = readdirSync(GUIDES).filter((f) => f.endsWith('.md')).sort()

t.test('gatehouse check accepts every provider example', async (t) => {
  t.ok(examples.length >= 6, `examples: ${examples.join(', ')}`)
  for (const f of examples) {
    const r = spawnSync(process.execPath, [CLI, 'check', '--config', join(EXAMPLES, f)], { encoding: 'utf8', env })
    t.equal(r.status, 0, `${f}: exit 0 ${r.stdout}${r.stderr}`)
    t.match(r.stdout, /: OK \(/, `${f}: reported OK`)
  }
})

t.test('every provider example is embedded whole in its guide', async (t) => {
  const used = new Set<string>()
  for (const f of examples) {
    const text = readFileSync(join(EXAMPLES, f), 'utf8')
    const guide = /^# Guide: (docs\/providers\/[a-z0-9-]+\.md)$/m.exec(text)?.[1]
    if (guide === undefined) { t.fail(`${f}: names no guide ("# Guide: docs/providers/NAME.md")`); continue }
    t.ok(existsSync(guide), `${f}: ${guide} exists`)
    if (!existsSync(guide)) continue
    used.add(guide.slice(GUIDES.length + 1))
    const md = readFileSync(guide, 'utf8')
    t.ok(md.includes('```yaml\n' + text + '```\n'), `${guide} shows ${f} exactly`)
    t.ok(md.includes(`config/examples/providers/${f}`), `${guide} names ${f}`)
  }
  // Every guide but the index shows an example, or says plainly why there is none.
  for (const g of guides) {
    if (g === 'README.md') continue
    const md = readFileSync(join(GUIDES, g), 'utf8')
    t.ok(used.has(g) || /not an OpenID Connect provider/.test(md), `${g}: has an example, or says why not`)
  }
  const index = readFileSync(join(GUIDES, 'README.md'), 'utf8')
  for (const g of guides) if (g !== 'README.md') t.ok(index.includes(`(${g})`), `the index links ${g}`)
  t.ok(readFileSync('README.md', 'utf8').includes('docs/providers/'), 'README links the guides')
  t.ok(readFileSync(join('docs', 'configuration.md'), 'utf8').includes('providers/README.md'), 'docs/configuration.md links the guides')
})
