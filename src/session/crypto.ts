import {
  createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, randomBytes, timingSafeEqual,
  type KeyObject,
} from 'node:crypto'

/**
 * Authenticated encryption of everything Gatehouse hands to a browser
 * (session and login-state cookies). The only module that touches ciphers.
 *
 * Sealed format, base64url of:  version (1) | key id (4) | IV (12) | ciphertext | GCM tag (16)
 *
 * - AES-256-GCM, a fresh random 96-bit IV per seal.
 * - Keys come from each configured secret through HKDF-SHA256, so a secret of
 *   any shape yields a uniform key, and the key id (derived separately) never
 *   reveals key material.
 * - Associated data binds the format version and a purpose (the cookie name):
 *   a value sealed for one cookie does not open under another name.
 * - Several secrets: the first seals, all unseal (rotation without logout).
 */

const VERSION = 1
const HEADER = 1 + 4 + 12
const TAG = 16

interface Key { readonly id: Buffer, readonly key: KeyObject }

export type UnsealResult =
  | { readonly ok: true, readonly value: Buffer, readonly rotated: boolean }
  | { readonly ok: false, readonly reason: 'malformed' | 'unknown-key' | 'tampered' }

function deriveKey (secret: string): Key {
  const ikm = Buffer.from(secret, 'utf8')
  const key = Buffer.from(hkdfSync('sha256', ikm, 'gatehouse/session', 'gatehouse v1 aes-256-gcm key', 32))
  const id = Buffer.from(hkdfSync('sha256', ikm, 'gatehouse/session', 'gatehouse v1 key id', 4))
  return { id, key: createSecretKey(key) }
}

export class Sealer {
  readonly #keys: readonly Key[]
  readonly #aadCache = new Map<string, Buffer>()

  constructor (secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('Sealer needs at least one secret')
    this.#keys = secrets.map(deriveKey)
  }

  #aad (purpose: string): Buffer {
    let aad = this.#aadCache.get(purpose)
    if (aad === undefined) {
      aad = Buffer.from(`gatehouse|v${VERSION}|${purpose}`, 'utf8')
      if (this.#aadCache.size < 1024) this.#aadCache.set(purpose, aad)
    }
    return aad
  }

  /** Encrypts `plaintext` for `purpose` with the newest key. */
  seal (purpose: string, plaintext: Buffer | string): string {
    const k = this.#keys[0]!
    const iv = randomBytes(12)
    const head = Buffer.allocUnsafe(HEADER)
    head[0] = VERSION
    k.id.copy(head, 1)
    iv.copy(head, 5)
    return Buffer.concat([head, ...gcmSeal(k.key, iv, this.#aad(purpose), toBuffer(plaintext))]).toString('base64url')
  }

  /**
   * Decrypts a sealed value for `purpose`. Never throws: anything that is not
   * a value this gateway sealed for this purpose is a typed failure.
   * `rotated` says it was sealed with an older key (re-seal it).
   */
  unseal (purpose: string, sealed: string): UnsealResult {
    if (sealed.length < 44 || sealed.length > 65536) return { ok: false, reason: 'malformed' }
    const buf = Buffer.from(sealed, 'base64url')
    if (buf.length < HEADER + TAG || buf[0] !== VERSION) return { ok: false, reason: 'malformed' }
    let keyIndex = -1
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i]!.id.compare(buf, 1, 5) === 0) { keyIndex = i; break }
    }
    if (keyIndex === -1) return { ok: false, reason: 'unknown-key' }
    const value = gcmOpen(this.#keys[keyIndex]!.key, buf.subarray(5, HEADER), this.#aad(purpose), buf.subarray(HEADER))
    return value === undefined ? { ok: false, reason: 'tampered' } : { ok: true, value, rotated: keyIndex > 0 }
  }
}

function toBuffer (v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v
}

/** AES-256-GCM: ciphertext and tag, to be framed by the caller. */
function gcmSeal (key: KeyObject, iv: Buffer, aad: Buffer, data: Buffer): Buffer[] {
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(aad)
  return [cipher.update(data), cipher.final(), cipher.getAuthTag()]
}

/** Opens `ciphertext | tag`; undefined when it fails authentication. */
function gcmOpen (key: KeyObject, iv: Buffer, aad: Buffer, body: Buffer): Buffer | undefined {
  if (body.length < TAG) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv)
    decipher.setAAD(aad)
    decipher.setAuthTag(body.subarray(body.length - TAG))
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG)), decipher.final()])
  } catch {
    return undefined
  }
}

/*
 * Server-side session values (the redis store). The browser's cookie carries
 * a random ticket; the store keeps the session under a one-way digest of it,
 * encrypted with a key derived from the ticket itself. The store alone (a
 * Redis dump, a replica, a backup) holds neither the ticket nor the key, so
 * it yields no usable token; the ticket alone is useless without the store.
 *
 * Format, base64url of:  version (1) | IV (12) | ciphertext | GCM tag (16)
 */

const TICKET_VERSION = 1

/** The storage key for `ticket`: SHA-256 under its own label, never reversible to the ticket. */
export function ticketDigest (ticket: string): string {
  return createHash('sha256').update('gatehouse/ticket-id\0').update(ticket).digest('base64url')
}

function ticketKey (ticket: string): KeyObject {
  // HKDF under a different label than the digest: knowing the storage key
  // tells nothing about the encryption key.
  return createSecretKey(Buffer.from(hkdfSync('sha256', Buffer.from(ticket, 'utf8'), 'gatehouse/ticket', 'gatehouse v1 ticket value key', 32)))
}

/** Encrypts a server-side value with a key derived from `ticket`; `purpose` (e.g. the storage key) is bound as associated data. */
export function sealWithTicket (ticket: string, purpose: string, plaintext: Buffer | string): string {
  const iv = randomBytes(12)
  const head = Buffer.from([TICKET_VERSION])
  return Buffer.concat([head, iv, ...gcmSeal(ticketKey(ticket), iv, Buffer.from(`gatehouse|t${TICKET_VERSION}|${purpose}`, 'utf8'), toBuffer(plaintext))]).toString('base64url')
}

/** Opens a value sealed by sealWithTicket; undefined when it is not one (wrong ticket, tampered, malformed). */
export function unsealWithTicket (ticket: string, purpose: string, sealed: string): Buffer | undefined {
  const buf = Buffer.from(sealed, 'base64url')
  if (buf.length < 1 + 12 + TAG || buf[0] !== TICKET_VERSION) return undefined
  return gcmOpen(ticketKey(ticket), buf.subarray(1, 13), Buffer.from(`gatehouse|t${TICKET_VERSION}|${purpose}`, 'utf8'), buf.subarray(13))
}

/** A random identifier of `bytes` bytes from the CSPRNG, base64url (128 bits -> 22 chars). */
export function randomToken (bytes = 16): string {
  return randomBytes(bytes).toString('base64url')
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/**
 * `length` alphanumeric characters from the CSPRNG, without modulo bias
 * (bytes >= 248 are rejected). 32 characters carry 190 bits. Used for `state`:
 * some providers (Togo ID) accept only 16-32 alphanumeric characters there.
 */
export function randomAlphanumeric (length = 32): string {
  let out = ''
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248) out += ALNUM[b % 62]
      if (out.length === length) break
    }
  }
  return out
}

/** SHA-256 of a string, base64url; for keys derived from secrets (never reversible). */
export function sha256 (value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

/** Constant-time string comparison (length differences return false at once, which leaks only length). */
export function safeEqual (a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8')
  const bb = Buffer.from(b, 'utf8')
  return ab.length === bb.length && timingSafeEqual(ab, bb)
}
