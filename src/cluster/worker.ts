import type { FastifyInstance } from 'fastify'
import type { Revocations } from '../session/revocations.js'
import { isMessage, type AdminAnswer, type Revoke } from './messages.js'

/**
 * A worker's in-process revocation records, shared with its siblings through
 * the primary: a logout (or back-channel logout) handled by one worker ends
 * the session in all of them. Only for the in-memory records; Redis ones are
 * shared already. The replay cache of logout tokens (`once`) stays per worker.
 */
export class ClusterRevocations implements Revocations {
  readonly kind: Revocations['kind']
  readonly #local: Revocations

  constructor (local: Revocations) {
    this.#local = local
    this.kind = local.kind
    process.on('message', (m: unknown) => {
      if (isMessage(m) && m.type === 'gatehouse:revoke') void local.revoke(m.key, m.at, m.ttl)
    })
  }

  revoke (key: string, at: number, ttl: number): void | Promise<void> {
    process.send?.({ type: 'gatehouse:revoke', key, at, ttl } satisfies Revoke)
    return this.#local.revoke(key, at, ttl)
  }

  revokedAt (keys: readonly string[]): number | undefined | Promise<number | undefined> { return this.#local.revokedAt(keys) }
  once (key: string, ttl: number): boolean | Promise<boolean> { return this.#local.once(key, ttl) }
  ready (): boolean { return this.#local.ready() }
}

/**
 * Worker side: answers the primary's admin questions from this worker's own
 * admin app (never listening itself), and drains when the primary is gone.
 */
export function joinCluster (admin: FastifyInstance | undefined, onPrimaryGone: () => void): void {
  process.on('message', (m: unknown) => {
    if (!isMessage(m) || m.type !== 'gatehouse:admin' || 'status' in m || admin === undefined) return
    admin.inject({ method: 'GET', url: m.url }).then((r) => {
      process.send?.({ type: 'gatehouse:admin', id: m.id, status: r.statusCode, body: r.body } satisfies AdminAnswer)
    }, () => { process.send?.({ type: 'gatehouse:admin', id: m.id, status: 500, body: '{}' } satisfies AdminAnswer) })
  })
  // Without the primary no connections arrive: drain and exit.
  process.once('disconnect', onPrimaryGone)
}
