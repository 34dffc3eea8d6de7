import t from 'tap'
import { hasToken, upgradeProblem } from '../../../src/proxy/websocket.js'

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
const good = { host: 'a', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': KEY, 'sec-websocket-version': '13' }

t.test('hasToken: comma lists, any case, any spacing', async (t) => {
  t.ok(hasToken('Upgrade', 'upgrade'))
  t.ok(hasToken('keep-alive, Upgrade', 'upgrade'))
  t.ok(hasToken(['keep-alive', 'upgrade'], 'upgrade'))
  t.ok(hasToken('WebSocket', 'websocket'))
  t.notOk(hasToken('upgrades', 'upgrade'))
  t.notOk(hasToken('', 'upgrade'))
  t.notOk(hasToken(undefined, 'upgrade'))
})

t.test('a valid handshake has no problem', async (t) => {
  t.equal(upgradeProblem('GET', '1.1', good), undefined)
  t.equal(upgradeProblem('GET', '1.1', { ...good, connection: 'keep-alive, Upgrade', upgrade: 'WebSocket' }), undefined)
})

t.test('each fault is a 400 that says what is wrong (426 for another version)', async (t) => {
  const cases: [string, string, Record<string, string | undefined>, number, RegExp][] = [
    ['GET', '1.1', { ...good, upgrade: 'h2c' }, 400, /only Upgrade: websocket/],
    ['GET', '1.1', { ...good, upgrade: undefined }, 400, /only Upgrade: websocket/],
    ['GET', '1.1', { ...good, connection: 'keep-alive' }, 400, /Connection must contain upgrade/],
    ['POST', '1.1', good, 400, /must be a GET/],
    ['GET', '1.0', good, 400, /HTTP\/1\.1/],
    ['GET', '1.1', { ...good, 'sec-websocket-key': undefined }, 400, /Sec-WebSocket-Key is missing/],
    ['GET', '1.1', { ...good, 'sec-websocket-key': 'short' }, 400, /not 16 bytes/],
    ['GET', '1.1', { ...good, 'sec-websocket-key': KEY.slice(0, -3) + 'B==' }, 400, /not 16 bytes/],
    ['GET', '1.1', { ...good, 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==x' }, 400, /not 16 bytes/],
    ['GET', '1.1', { ...good, 'sec-websocket-version': undefined }, 400, /Sec-WebSocket-Version is missing/],
    ['GET', '1.1', { ...good, 'sec-websocket-version': '8' }, 426, /only Sec-WebSocket-Version 13/],
  ]
  for (const [method, version, headers, status, re] of cases) {
    const p = upgradeProblem(method, version, headers)
    t.equal(p?.status, status, `${method} ${version} ${JSON.stringify(headers)}`)
    t.match(p?.message, re)
  }
})
