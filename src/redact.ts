/**
 * Query-string redaction for log lines: a URL's token-like parameters are
 * replaced by `[redacted]`, whatever their spelling.
 */

/**
 * Parameter names whose values never reach a log line. Compared after
 * percent-decoding, lower-casing and dropping `-` and `_`, so `API_KEY`,
 * `api-key`, `%61pi_key` and `apikey` are one name. The callback's `code`
 * and `state` are here: a logged code could be redeemed before the browser does.
 */
export const DEFAULT_REDACTED_PARAMS: readonly string[] = Object.freeze([
  'code', 'state', 'id_token', 'access_token', 'refresh_token', 'token', 'session_state', 'logout_token',
  'code_verifier', 'client_assertion', 'assertion', 'jwt', 'ticket', 'nonce',
  'api_key', 'key', 'password', 'passwd', 'pwd', 'pass', 'secret', 'client_secret', 'private_key',
  'signature', 'sig', 'auth', 'authorization', 'credential', 'credentials', 'session', 'sessionid', 'otp',
])

/** Names ending in one of these are redacted too (`github_token`, `aws_secret`, `x-api-key`, `db_password`). */
const REDACTED_SUFFIXES: readonly string[] = ['token', 'secret', 'password', 'passwd', 'apikey', 'signature', 'credential', 'credentials']

/** The form names are compared in: decoded once, lower-case, without `-` and `_`. */
export function normaliseParamName (raw: string): string {
  let name = raw
  if (name.includes('%') || name.includes('+')) {
    try { name = decodeURIComponent(name.replaceAll('+', ' ')) } catch { /* a broken escape: compare as written */ }
  }
  return name.toLowerCase().replace(/[-_\s]/g, '')
}

export type QueryRedactor = (url: string) => string

/**
 * A redactor for these names (added to the defaults, which cannot be
 * removed). Returns the URL unchanged when it has no query; otherwise every
 * parameter keeps its name as sent and a listed one gets `[redacted]` as its
 * value (a name without `=` stays as it is: it carries no value). `;`
 * separates parameters like `&` (some upstreams read it so). A fragment,
 * which clients should never send, is dropped.
 */
export function queryRedactor (extra: readonly string[] = []): QueryRedactor {
  const names = new Set([...DEFAULT_REDACTED_PARAMS, ...extra].map(normaliseParamName))
  const secret = (rawName: string): boolean => {
    const n = normaliseParamName(rawName)
    return names.has(n) || REDACTED_SUFFIXES.some((s) => n.endsWith(s))
  }
  return (url: string): string => {
    const q = url.indexOf('?')
    if (q === -1) {
      const hash = url.indexOf('#')
      return hash === -1 ? url : url.slice(0, hash)
    }
    const hash = url.indexOf('#', q)
    const query = hash === -1 ? url.slice(q + 1) : url.slice(q + 1, hash)
    // `;` separates parameters too for some servers: treat it as `&` does.
    const parts = query.split(/([&;])/)
    for (let i = 0; i < parts.length; i += 2) {
      const p = parts[i]!
      const eq = p.indexOf('=')
      if (eq !== -1 && secret(p.slice(0, eq))) parts[i] = `${p.slice(0, eq)}=[redacted]`
    }
    return `${url.slice(0, q)}?${parts.join('')}`
  }
}
