import t from 'tap'
import { LoginLimiter } from '../../../src/auth/rate-limit.js'

t.test('token bucket per address and kind: a burst of N, then one per 60/N s', async (t) => {
  let now = 1_000_000
  const l = new LoginLimiter(6, () => now)
  for (let i = 0; i < 6; i++) t.equal(l.take('start', 'a'), 0, `start ${i + 1}`)
  t.equal(l.take('start', 'a'), 10, 'the 7th waits 10 s (one token per 10 s)')
  t.equal(l.take('start', 'b'), 0, 'another address has its own bucket')
  t.equal(l.take('callback', 'a'), 0, 'callbacks have their own bucket')
  now += 5_000
  t.equal(l.take('start', 'a'), 5, 'half a token after 5 s: 5 s more')
  now += 5_000
  t.equal(l.take('start', 'a'), 0, 'a whole token after 10 s')
  t.equal(l.take('start', 'a'), 10)
  now -= 60_000
  t.equal(l.take('start', 'a'), 10, 'a clock going backwards refills nothing')
  now += 3_600_000
  for (let i = 0; i < 6; i++) t.equal(l.take('start', 'a'), 0, 'full again after a long pause, never more than N')
  t.ok(l.take('start', 'a') > 0)
})

t.test('0 = no limit; memory is bounded by maxKeys', async (t) => {
  const off = new LoginLimiter(0, () => 0)
  for (let i = 0; i < 100; i++) t.equal(off.take('start', 'a'), 0)
  const l = new LoginLimiter(1, () => 0, 10)
  for (let i = 0; i < 1000; i++) l.take('start', `10.0.${i >> 8}.${i & 255}`)
  t.equal(l.size, 10)
})
