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
    const cipher = createCipheriv('aes-256-gcm', k.key, iv)
    cipher.setAAD(this.#aad(purpose))
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext
    const head = Buffer.allocUnsafe(HEADER)
    head[0] = VERSION
    k.id.copy(head, 1)
    iv.copy(head, 5)
    return Buffer.concat([head, cipher.update(data), cipher.final(), cipher.getAuthTag()]).toString('base64url')
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
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#keys[keyIndex]!.key, buf.subarray(5, HEADER))
      decipher.setAAD(this.#aad(purpose))
      decipher.setAuthTag(buf.subarray(buf.length - TAG))
      const value = Buffer.concat([decipher.update(buf.subarray(HEADER, buf.length - TAG)), decipher.final()])
      return { ok: true, value, rotated: keyIndex > 0 }
    } catch {
      return { ok: false, reason: 'tampered' }
    }
  }
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
