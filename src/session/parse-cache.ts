import { LRUCache } from 'lru-cache'
import type { Sealer } from './crypto.js'

/**
 * Opened session cookies, so that a browser sending the same cookie again
 * (every request between two re-seals) costs a lookup and a string compare
 * instead of a base64url decode, an AES-GCM decrypt and a JSON.parse.
 *
 * - The key is the value's own AES-GCM tag (its last 22 characters): a
 *   128-bit MAC over the whole sealed value that only the key holder can
 *   compute. A hit counts only when the whole sealed value is identical,
 *   byte for byte, to the one that was authenticated: anything else (a
 *   tampered cookie, a forged one reusing a tag) goes through the full
 *   unseal, which refuses it. That compare costs well under a microsecond
 *   where hashing a 4 KB value with SHA-256 costs about 3 µs.
 * - Filled only after a successful unseal and parse: nothing unauthenticated
 *   is ever stored.
 * - It caches the ticket only. Everything that changes over time (the
 *   store lookup, timeouts, revocation) still runs on every request.
 * - Callers get a shallow copy of the ticket, and nested values are frozen:
 *   request code may update the session it was given (e.g. `seen`) without
 *   changing what the next request with the same cookie reads.
 * - Bounded by entries and by the size of the sealed values.
 */

export type OpenResult =
  | { readonly ok: true, readonly ticket: unknown, readonly rotated: boolean }
  | { readonly ok: false, readonly reason: 'malformed' | 'unknown-key' | 'tampered' }

interface Entry { readonly sealed: string, readonly ticket: unknown, readonly rotated: boolean }

export const PARSE_CACHE_MAX_ENTRIES = 10_000
/** Bound on memory: twice the sealed value's length per entry (the value itself, and about as much for the parsed ticket). */
export const PARSE_CACHE_MAX_BYTES = 64 * 1024 * 1024
/** base64url characters of the 16-byte GCM tag at the end of a sealed value. */
const TAG_CHARS = 22

function deepFreeze (v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return
  Object.freeze(v)
  for (const x of Object.values(v)) deepFreeze(x)
}

function copy (ticket: unknown): unknown {
  if (ticket === null || typeof ticket !== 'object') return ticket
  return Array.isArray(ticket) ? [...ticket] : { ...ticket }
}

export class SessionParseCache {
  readonly #sealer: Sealer
  readonly #purpose: string
  readonly #cache: LRUCache<string, Entry>

  constructor (sealer: Sealer, purpose: string, opts: { maxEntries?: number, maxBytes?: number } = {}) {
    this.#sealer = sealer
    this.#purpose = purpose
    this.#cache = new LRUCache<string, Entry>({
      max: opts.maxEntries ?? PARSE_CACHE_MAX_ENTRIES,
      maxSize: opts.maxBytes ?? PARSE_CACHE_MAX_BYTES,
    })
  }

  /** Unseals and parses a sealed session value, from the cache when this exact value was opened before. */
  open (sealed: string): OpenResult {
    const key = sealed.slice(-TAG_CHARS)
    const hit = this.#cache.get(key)
    if (hit !== undefined && hit.sealed === sealed) return { ok: true, ticket: copy(hit.ticket), rotated: hit.rotated }
    const opened = this.#sealer.unseal(this.#purpose, sealed)
    if (!opened.ok) return opened
    let ticket: unknown
    try { ticket = JSON.parse(opened.value.toString('utf8')) } catch { return { ok: false, reason: 'malformed' } }
    deepFreeze(ticket)
    // An own flat copy: `sealed` may be a slice of the whole Cookie header.
    const own = Buffer.from(sealed, 'latin1').toString('latin1')
    this.#cache.set(key, { sealed: own, ticket, rotated: opened.rotated }, { size: 2 * sealed.length })
    return { ok: true, ticket: copy(ticket), rotated: opened.rotated }
  }

  /** Entries held (for tests and metrics). */
  get size (): number { return this.#cache.size }
}
