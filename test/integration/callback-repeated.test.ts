import t from 'tap'
import { SINGLE_PARAMETERS } from '../../src/auth/authorization-response.js'
import { accepted, attempt, makeKey, refused, rogueStack, type Tamper } from '../fixtures/rogue.js'

/**
 * RFC 6749 3.1: a response parameter must not appear more than once. A
 * callback that repeats one fails (400, no session, nothing upstream)
 * whichever copy is the real one, in every response mode.
 */

const NAMES = ['state', 'code', 'id_token', 'access_token', 'iss', 'error', 'session_state'] as const

/** Repeats `name`: the real value (or a made-up one where the response has none) next to a forged one. */
function repeat (name: string, realFirst: boolean): Tamper {
  return {
    authorization: (p) => {
      const real = p.getAll(name)
      const first = real[0] ?? `forged-${name}-1`
      const others = [...p].filter(([k]) => k !== name)
      for (const k of [...new Set([...p.keys()])]) p.delete(k)
      for (const [k, v] of others) p.append(k, v)
      const copies = realFirst ? [first, `forged-${name}`] : [`forged-${name}`, first]
      for (const v of copies) p.append(name, v)
    },
  }
}

const K1 = await makeKey('k1')

t.test('the repeated-parameter list covers every parameter the contract names', async (t) => {
  for (const name of NAMES) t.ok((SINGLE_PARAMETERS as readonly string[]).includes(name), name)
})

for (const [responseType, responseMode] of [['code', 'query'], ['code', 'fragment'], ['code', 'form_post'], ['code id_token', 'form_post'], ['id_token token', 'fragment']] as const) {
  t.test(`${responseType} / ${responseMode}: a repeated parameter fails the login, whichever copy is real`, async (t) => {
    const r = await rogueStack(t, responseType, [K1], { responseMode })
    accepted(t, await attempt(r, undefined))
    for (const name of NAMES) {
      for (const realFirst of [true, false]) {
        await t.test(`${name} twice, ${realFirst ? 'real copy first' : 'real copy second'}`, async (t) => {
          refused(t, await attempt(r, repeat(name, realFirst)), 'GH_LOGIN_REPEATED_PARAMETER')
        })
      }
    }
    accepted(t, await attempt(r, undefined))
  })
}
