import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../../../src/config/load.js'
import { configWarnings } from '../../../src/config/warnings.js'
import { HEAD, problems } from '../../fixtures/minimal-config.js'
import { selfSigned } from '../../fixtures/tls.js'

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-config-'))
const one = selfSigned(dir, 'one')
const two = selfSigned(dir, 'two')
const yaml = (tls: string, publicUrl = 'https://app.example.com'): string =>
  `${tls}\n${HEAD.replace('publicUrl: https://app.example.com', `publicUrl: ${publicUrl}`)}  - upstream: http://127.0.0.1:3000\n`

t.test('tls: the pair is read at load and kept with the config', async (t) => {
  const c = parseConfig(yaml(`tls:\n  certFile: ${one.certFile}\n  keyFile: ${one.keyFile}`), { env: {} })
  t.equal(c.tls?.certFile, one.certFile)
  t.equal(c.tls?.cert, one.cert)
  t.equal(c.tls?.key, one.key)
  t.equal(parseConfig(yaml(''), { env: {} }).tls, undefined, 'no tls: plain HTTP')
})

t.test('tls: each fault names its field', async (t) => {
  const garbage = join(dir, 'garbage.pem')
  writeFileSync(garbage, 'hello\n')
  const cases: [string, string[]][] = [
    [`tls:\n  certFile: ${join(dir, 'nope.crt')}\n  keyFile: ${one.keyFile}`, [`tls.certFile: cannot read ${JSON.stringify(join(dir, 'nope.crt'))}: ENOENT (no such file or directory)`]],
    [`tls:\n  certFile: ${one.certFile}\n  keyFile: ${join(dir, 'nope.key')}`, [`tls.keyFile: cannot read ${JSON.stringify(join(dir, 'nope.key'))}: ENOENT (no such file or directory)`]],
    [`tls:\n  certFile: ${garbage}\n  keyFile: ${one.keyFile}`, [`tls.certFile: ${JSON.stringify(garbage)} holds no PEM certificate`]],
    [`tls:\n  certFile: ${one.certFile}\n  keyFile: ${garbage}`, [`tls.keyFile: ${JSON.stringify(garbage)} holds no PEM private key (an encrypted key is not supported)`]],
    [`tls:\n  certFile: ${one.certFile}\n  keyFile: ${two.keyFile}`, [`tls.keyFile: ${JSON.stringify(two.keyFile)} is not the key of the certificate in ${JSON.stringify(one.certFile)}`]],
    [`tls:\n  certFile: ${one.certFile}`, ['tls.keyFile: is required']],
    ['tls: yes', ['tls: expected a map, got "yes"']],
  ]
  for (const [tls, want] of cases) t.same(problems(yaml(tls)), want, tls.split('\n').slice(1).join(' ') || tls)
})

t.test('tls warnings: http publicUrl, a certificate near or past its end', async (t) => {
  const tls = `tls:\n  certFile: ${one.certFile}\n  keyFile: ${one.keyFile}`
  const long = selfSigned(dir, 'long', 30)
  const longTls = `tls:\n  certFile: ${long.certFile}\n  keyFile: ${long.keyFile}`
  const now = Date.now()
  t.same(configWarnings(parseConfig(yaml(longTls), { env: {} }), now), [], 'valid for weeks yet: nothing to say')
  t.match(configWarnings(parseConfig(yaml(longTls, 'http://app.example.com'), { env: {} }), now), [/^tls: the listener serves HTTPS but publicUrl is http:\/\/app\.example\.com/])
  t.match(configWarnings(parseConfig(yaml(tls), { env: {} }), now), [/^tls\.certFile: the certificate expires on .* \(in 1 day\); renew it/])
  t.match(configWarnings(parseConfig(yaml(tls), { env: {} }), now + 3 * 86_400_000), [/^tls\.certFile: the certificate expired on /])
})
