/**
 * Request paths as the upstream will resolve them. Every route decision
 * (match, `auth` mode, policy) is made on this path, never on the raw one:
 * a decision on `/public/..%2fadmin` as "under /public/" while the upstream
 * serves `/admin` is the path-confusion class behind several gateway CVEs.
 *
 * The normalised path: percent-escapes decoded once (never twice), `\` read
 * as `/`, dot segments resolved (RFC 3986 5.2.4), repeated slashes kept.
 *
 * Upstreams differ in what they do with the ambiguous spellings: some decode
 * `%2F` into a separator and some do not, some take `%2E%2E` for `..`, some
 * (IIS, Windows) read `\` as `/`, Java servlet containers cut `;params` off a
 * segment (so `..;/` is `../`), some merge `//`. Where a path is spelled so
 * that one of these readings would land on another route than the
 * normalised path, no reading is safe to assume: the request is refused.
 * A NUL or other control byte, an invalid escape, or an escape that is still
 * an escape after one decoding (double encoding of `.`, `/`, `\`, `%`) is
 * refused too.
 */

export type NormalisedPath<R> =
  | {
    readonly ok: true
    /** The decoded, dot-resolved path every decision is made on. */
    readonly path: string
    /**
     * The path to send upstream: the request's own spelling when it needed
     * no normalising, else its segments (still encoded as the client sent
     * them) with dot segments resolved.
     */
    readonly upstream: string
    /** Whether `upstream` differs from the request's path. */
    readonly changed: boolean
    /** The route every reading of the path agrees on. */
    readonly route: R
  }
  | { readonly ok: false, readonly reason: string }

/** Which of the readings an upstream might take are applied. */
interface Reading {
  /** `%2F` and `%5C` are separators (else ordinary characters of a segment). */
  readonly decodeSlash: boolean
  /** `%2E` is a `.` for dot segments (else an ordinary character). */
  readonly decodeDot: boolean
  /** A literal `\` is a separator. */
  readonly backslash: boolean
  /** `;...` is cut off every segment (servlet path parameters). */
  readonly matrix: boolean
  /** Empty segments are dropped (`//` read as `/`). */
  readonly mergeSlashes: boolean
}

/** The reading the contract names: decode once, `\` is `/`, keep `;` and `//`. */
const PRIMARY: Reading = { decodeSlash: true, decodeDot: true, backslash: true, matrix: false, mergeSlashes: false }

/** Paths with none of these need no normalising: the common case costs one regex test. */
const NEEDS_WORK = /[%\\;]|\/\/|\/\.(?:\.)?(?:\/|$)/

const HEX = /^[0-9a-fA-F]{2}$/

/** One raw segment split into pieces: literal text, or a decoded escape. */
type Piece = string | { readonly byte: number }

/** Splits a raw segment into literal runs and decoded escapes; null when an escape is invalid. */
function pieces (raw: string): Piece[] | null {
  const out: Piece[] = []
  let start = 0
  for (let i = raw.indexOf('%'); i !== -1; i = raw.indexOf('%', start)) {
    const hex = raw.slice(i + 1, i + 3)
    if (!HEX.test(hex)) return null
    if (i > start) out.push(raw.slice(start, i))
    out.push({ byte: parseInt(hex, 16) })
    start = i + 3
  }
  if (start < raw.length) out.push(raw.slice(start))
  return out
}

const SLASH = 0x2f
const BACKSLASH = 0x5c
const DOT = 0x2e

const UTF8 = new TextDecoder('utf-8', { fatal: true })

/** Bytes of escapes become text: runs of escaped bytes are decoded as UTF-8 together (checked valid in parse). */
function flush (bytes: number[], into: string[]): void {
  if (bytes.length === 0) return
  into.push(UTF8.decode(Uint8Array.from(bytes)))
  bytes.length = 0
}

/**
 * Whether each run of escaped bytes is valid UTF-8. Overlong forms such as
 * `%C0%AE` (a `.` to some old decoders) and stray bytes are not: a path
 * whose bytes mean different characters to different decoders cannot be
 * judged.
 */
function validUtf8 (parts: readonly Piece[]): boolean {
  const run: number[] = []
  for (let i = 0; i <= parts.length; i++) {
    const p = parts[i]
    if (p !== undefined && typeof p !== 'string') { run.push(p.byte); continue }
    if (run.length > 0) {
      try { UTF8.decode(Uint8Array.from(run)) } catch { return false }
      run.length = 0
    }
  }
  return true
}

/**
 * The segments of one raw segment under a reading: usually one, more where
 * an encoded separator splits it. Characters the reading does not decode
 * keep their escape (upper-cased), so they never compare equal to the
 * character itself.
 */
function readSegment (raw: string, parts: readonly Piece[], r: Reading): string[] {
  if (parts.length === 1 && typeof parts[0] === 'string') return [r.matrix ? cutMatrix(raw) : raw]
  const segs: string[] = []
  let text: string[] = []
  const bytes: number[] = []
  let cut = false
  for (const p of parts) {
    if (cut) break
    if (typeof p === 'string') {
      flush(bytes, text)
      if (r.matrix && p.includes(';')) { text.push(p.slice(0, p.indexOf(';'))); cut = true } else text.push(p)
      continue
    }
    if (p.byte === SLASH || p.byte === BACKSLASH) {
      if (r.decodeSlash) {
        flush(bytes, text)
        segs.push(text.join(''))
        text = []
      } else {
        flush(bytes, text)
        text.push(p.byte === SLASH ? '%2F' : '%5C')
      }
    } else if (p.byte === DOT && !r.decodeDot) {
      flush(bytes, text)
      text.push('%2E')
    } else {
      bytes.push(p.byte)
    }
  }
  flush(bytes, text)
  segs.push(text.join(''))
  return segs
}

function cutMatrix (seg: string): string {
  const i = seg.indexOf(';')
  return i === -1 ? seg : seg.slice(0, i)
}

/** RFC 3986 remove_dot_segments over a list of segments (the path's leading '' excluded). */
function resolveDots (segs: readonly string[], isDot: (s: string) => 0 | 1 | 2): string[] {
  const out: string[] = []
  for (let i = 0; i < segs.length; i++) {
    const d = isDot(segs[i]!)
    const last = i === segs.length - 1
    if (d === 0) { out.push(segs[i]!); continue }
    if (d === 2) out.pop()
    // A trailing dot segment leaves the directory: /a/b/.. is /a/, not /a.
    if (last) out.push('')
  }
  return out
}

function dotKind (s: string): 0 | 1 | 2 {
  return s === '.' ? 1 : s === '..' ? 2 : 0
}

interface Parsed {
  /** Raw segments (split at literal `/`), each with its pieces. */
  readonly raw: readonly { readonly text: string, readonly parts: readonly Piece[] }[]
  readonly hasBackslash: boolean
  readonly hasEncodedSlash: boolean
  readonly hasEncodedDot: boolean
  readonly hasSemicolon: boolean
  readonly hasEmpty: boolean
}

/** Why a path is refused before any reading: NUL, controls, bad or double escapes. */
function parse (path: string): Parsed | string {
  if (path.charCodeAt(0) !== SLASH) return 'the path does not start with /'
  let hasBackslash = false
  let hasEncodedSlash = false
  let hasEncodedDot = false
  const raw: { text: string, parts: Piece[] }[] = []
  // Literal backslashes split raw segments only under some readings, so keep
  // them in the text and split on them per reading (below, in readAll).
  for (const text of path.slice(1).split('/')) {
    const parts = pieces(text)
    if (parts === null) return 'the path has an invalid percent-escape'
    if (!validUtf8(parts)) return 'the path has percent-escapes that are not UTF-8'
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      if (typeof p === 'string') {
        if (p.includes('\\')) hasBackslash = true
        continue
      }
      if (p.byte < 0x20 || p.byte === 0x7f) return 'the path has an encoded NUL or control character'
      if (p.byte === SLASH || p.byte === BACKSLASH) hasEncodedSlash = true
      else if (p.byte === DOT) hasEncodedDot = true
      else if (p.byte === 0x25) {
        // `%25` followed by two hex digits is an escape once decoded: a
        // double-encoded `.`, `/`, `\`, `%` or control would mean something
        // else to an upstream that decodes again.
        const next = parts[i + 1]
        const hex = typeof next === 'string' ? next.slice(0, 2) : ''
        if (HEX.test(hex)) {
          const b = parseInt(hex, 16)
          if (b === DOT || b === SLASH || b === BACKSLASH || b === 0x25 || b < 0x20 || b === 0x7f) return 'the path is double-encoded'
        }
      }
    }
    raw.push({ text, parts })
  }
  // An empty last segment is a trailing slash, not a repeated one; encoded
  // separators can make empty segments of their own.
  const hasEmpty = hasEncodedSlash || raw.slice(0, -1).some((s) => s.text === '')
  return { raw, hasBackslash, hasEncodedSlash, hasEncodedDot, hasSemicolon: path.includes(';'), hasEmpty }
}

/** The decoded, dot-resolved path under one reading. */
function readAll (p: Parsed, r: Reading): string {
  let segs: string[] = []
  for (const { text, parts } of p.raw) {
    if (r.backslash && text.includes('\\')) {
      for (const sub of text.split('\\')) segs.push(...readSegment(sub, pieces(sub)!, r))
    } else {
      segs.push(...readSegment(text, parts, r))
    }
  }
  if (r.mergeSlashes) segs = segs.filter((s, i) => s !== '' || i === segs.length - 1)
  return '/' + resolveDots(segs, dotKind).join('/')
}

/** Every combination of the readings this path's spelling makes relevant, the primary one first. */
function readings (p: Parsed): Reading[] {
  let out: Reading[] = [PRIMARY]
  const vary = (key: keyof Reading): void => { out = out.flatMap((r) => [r, { ...r, [key]: !r[key] }]) }
  if (p.hasEncodedSlash) vary('decodeSlash')
  if (p.hasEncodedDot) vary('decodeDot')
  if (p.hasBackslash) vary('backslash')
  if (p.hasSemicolon) vary('matrix')
  if (p.hasEmpty) vary('mergeSlashes')
  return out
}

/** The upstream spelling: raw segments (`\` as `/`), dot segments (`.`, `%2e`, any case) resolved. */
function upstreamPath (p: Parsed): string {
  const segs: string[] = []
  for (const { text } of p.raw) segs.push(...(text.includes('\\') ? text.split('\\') : [text]))
  return '/' + resolveDots(segs, (s) => dotKind(s.replace(/%2e/gi, '.'))).join('/')
}

/**
 * Normalises a request path (without its query string) and checks that the
 * ways an upstream might read it all agree on the route: `route` maps a
 * normalised path to the route it matches (any value compared with ===).
 * Pure.
 */
export function normalisePath<R> (path: string, route: (normalised: string) => R): NormalisedPath<R> {
  if (!NEEDS_WORK.test(path)) {
    if (path.charCodeAt(0) !== SLASH) return { ok: false, reason: 'the path does not start with /' }
    return { ok: true, path, upstream: path, changed: false, route: route(path) }
  }
  const parsed = parse(path)
  if (typeof parsed === 'string') return { ok: false, reason: parsed }
  const all = readings(parsed)
  const primary = readAll(parsed, all[0]!)
  const chosen = route(primary)
  const seen = new Set([primary])
  for (let i = 1; i < all.length; i++) {
    const alt = readAll(parsed, all[i]!)
    if (seen.has(alt)) continue
    seen.add(alt)
    if (route(alt) !== chosen) return { ok: false, reason: 'an upstream could resolve it to another route (an encoded /, \\ or ., a backslash, a ;parameter or a repeated /)' }
  }
  const upstream = upstreamPath(parsed)
  return { ok: true, path: primary, upstream, changed: upstream !== path, route: chosen }
}
