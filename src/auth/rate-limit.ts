import { LRUCache } from 'lru-cache'

/**
 * `limits.loginsPerMinute`: a token bucket per client address and kind
 * (login starts, callbacks), holding `perMinute` tokens and refilled
 * continuously at that rate, so a burst of `perMinute` passes and then one
 * more each 60/perMinute seconds. Memory is bounded: at most `maxKeys`
 * addresses are remembered (least recently seen forgotten first; a
 * forgotten address simply starts with a full bucket).
 */

interface Bucket { tokens: number, at: number }

export type LimitKind = 'start' | 'callback'

export class LoginLimiter {
  readonly perMinute: number
  readonly #buckets: LRUCache<string, Bucket>
  readonly #now: () => number

  constructor (perMinute: number, now: () => number, maxKeys = 100_000) {
    this.perMinute = perMinute
    this.#now = now
    this.#buckets = new LRUCache({ max: maxKeys })
  }

  /**
   * Takes one token for `address`. Returns 0 when allowed, else the seconds
   * until a token is available (for Retry-After, at least 1).
   */
  take (kind: LimitKind, address: string): number {
    if (this.perMinute <= 0) return 0
    const key = `${kind}\n${address}`
    const now = this.#now()
    const ratePerMs = this.perMinute / 60_000
    let b = this.#buckets.get(key)
    if (b === undefined) {
      b = { tokens: this.perMinute, at: now }
      this.#buckets.set(key, b)
    } else {
      // A clock that went backwards refills nothing.
      b.tokens = Math.min(this.perMinute, b.tokens + Math.max(0, now - b.at) * ratePerMs)
      b.at = now
    }
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / ratePerMs / 1000))
  }

  /** Addresses remembered now (for tests of the bound). */
  get size (): number { return this.#buckets.size }
}
