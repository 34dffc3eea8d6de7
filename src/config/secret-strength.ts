/**
 * Refuses session secrets an attacker could guess. The session secret keys
 * the AEAD that seals every cookie: whoever knows it can forge any user's
 * session. Length alone does not make a secret (the placeholder shipped in
 * deploy/sidecar.yaml has 52 characters), so known placeholders and strings
 * with very little variety are refused too.
 */

export const GENERATE_HINT = 'generate one with: openssl rand -base64 48'

/** Words that only ever appear in a value someone meant to replace. Compared lower-cased, without separators. */
const PLACEHOLDER_WORDS = ['changeme', 'replaceme', 'changethis', 'replacethis', 'yoursecrethere', 'insertsecret', 'putsecrethere']

/** Fewer distinct characters than this in a secret: a pattern, not randomness (hex has 16). */
const MIN_DISTINCT = 8
/** Shannon entropy per character below this: mostly one or two characters repeated. 32 random hex digits measure about 3.6, base64 about 4.5 (a short string cannot show all 64 characters). */
const MIN_BITS_PER_CHAR = 2.5

/** True for well-known placeholder values such as `change-me` or `REPLACE_ME`. */
export function isPlaceholder (value: string): boolean {
  const folded = value.toLowerCase().replace(/[^a-z0-9]/g, '')
  return PLACEHOLDER_WORDS.some((w) => folded.includes(w))
}

/** Shannon entropy of the string's character distribution, in bits per character. */
export function bitsPerChar (value: string): number {
  const counts = new Map<string, number>()
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1)
  const n = [...value].length
  let h = 0
  for (const k of counts.values()) { const p = k / n; h -= p * Math.log2(p) }
  return h
}

/**
 * Why this session secret is too weak, or undefined when it will do. Never
 * quotes the value: check output ends up in CI logs.
 */
export function weakSecretReason (value: string): string | undefined {
  if (isPlaceholder(value)) return 'is a placeholder, not a secret'
  const distinct = new Set(value).size
  if (distinct === 1) return 'is one character repeated'
  // A short unit repeated (`abcabcabc…`, `12341234…`): as guessable as the unit.
  for (let unit = 2; unit <= 8; unit++) {
    if (value.length >= unit * 3 && value === value.slice(0, unit).repeat(Math.ceil(value.length / unit)).slice(0, value.length)) {
      return `is a ${unit}-character sequence repeated`
    }
  }
  const bits = bitsPerChar(value)
  if (distinct < MIN_DISTINCT || bits < MIN_BITS_PER_CHAR) {
    return `is too predictable (${distinct} distinct characters, ${bits.toFixed(1)} bits of entropy per character, where random hex has about 3.6)`
  }
  return undefined
}
