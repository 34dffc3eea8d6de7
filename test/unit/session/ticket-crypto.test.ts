import t from 'tap'
import { randomToken, sealWithTicket, ticketDigest, unsealWithTicket } from '../../../src/session/crypto.js'

t.test('a value sealed with a ticket opens only with that ticket and purpose', async (t) => {
  const ticket = randomToken(16)
  const sealed = sealWithTicket(ticket, 'k1', '{"secret":"access-token"}')
  t.notMatch(sealed, /access-token/)
  t.equal(unsealWithTicket(ticket, 'k1', sealed)?.toString('utf8'), '{"secret":"access-token"}')
  t.equal(unsealWithTicket(randomToken(16), 'k1', sealed), undefined, 'another ticket')
  t.equal(unsealWithTicket(ticket, 'k2', sealed), undefined, 'another purpose (storage key)')
  const buf = Buffer.from(sealed, 'base64url')
  buf[20] = buf[20]! ^ 1
  t.equal(unsealWithTicket(ticket, 'k1', buf.toString('base64url')), undefined, 'tampered')
  t.equal(unsealWithTicket(ticket, 'k1', 'short'), undefined, 'malformed')
  t.not(sealWithTicket(ticket, 'k1', 'x'), sealWithTicket(ticket, 'k1', 'x'), 'a fresh IV every time')
})

t.test('the storage key is a stable one-way digest of the ticket', async (t) => {
  const ticket = randomToken(16)
  t.equal(ticketDigest(ticket), ticketDigest(ticket))
  t.not(ticketDigest(ticket), ticketDigest(randomToken(16)))
  t.notMatch(ticketDigest(ticket), ticket)
  t.match(ticketDigest(ticket), /^[A-Za-z0-9_-]{43}$/)
})
