/** A header value as Node gives it: a string, a list (repeated headers Node keeps apart), or absent. */
type HeaderValue = string | readonly string[] | undefined

/** An HTTP method token (RFC 9110). */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

/**
 * Whether a request is a CORS preflight: `OPTIONS` (methods are
 * case-sensitive, so `options` is not) with an `Origin` and an
 * `Access-Control-Request-Method` that is one method token. A route with
 * `allowPreflight` forwards these without authentication, so anything a
 * browser would not send — a header given twice (Node joins repeats with
 * ", "), an empty one — is not a preflight and gets the route's auth. Pure.
 */
export function isCorsPreflight (method: string | undefined, headers: Readonly<Record<string, HeaderValue>>): boolean {
  if (method !== 'OPTIONS') return false
  const origin = headers.origin
  const requested = headers['access-control-request-method']
  return typeof origin === 'string' && origin !== '' && !origin.includes(',') &&
    typeof requested === 'string' && TOKEN.test(requested)
}
