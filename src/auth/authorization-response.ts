/**
 * Checks on an authorization response's parameters that need nothing but
 * the parameters themselves. Pure.
 */

/**
 * Parameters that must appear at most once (RFC 6749 3.1: "Request and
 * response parameters MUST NOT be included more than once"). Which copy a
 * gateway reads when one is repeated is an attack surface (an attacker who
 * can add a parameter picks the copy another component reads), so a repeat
 * fails the login whichever copy is real.
 */
export const SINGLE_PARAMETERS = ['state', 'code', 'id_token', 'access_token', 'token_type', 'expires_in', 'iss', 'error', 'error_description', 'session_state'] as const

/** The first parameter of SINGLE_PARAMETERS that appears more than once, or undefined. */
export function repeatedParameter (params: URLSearchParams): string | undefined {
  for (const name of SINGLE_PARAMETERS) {
    if (params.getAll(name).length > 1) return name
  }
  return undefined
}

/** A parsed form body (duplicates kept as arrays) as URLSearchParams, every copy kept. */
export function formParams (body: Record<string, string | string[]> | undefined): URLSearchParams {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(body ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, String(v))
  }
  return params
}
