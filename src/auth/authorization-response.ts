import type { ResponseMode } from '../config/types.js'
import { LoginError } from '../errors.js'
import { safeEqual } from '../session/crypto.js'
import { providerRefusal } from './provider-errors.js'

/**
 * Checks on an authorization response that need nothing but its parameters
 * and what the login expects: tables of small named checks, run in order,
 * the first failure ending the login. Pure.
 *
 * SHAPE_CHECKS run in the callback before the login state is looked up, so a
 * malformed response consumes nothing. RESPONSE_CHECKS run in the provider
 * module once the login and its provider are known, before any token is
 * verified or any code is exchanged.
 */

/** How the authorization response reached the callback. */
export type ResponseChannel = 'query' | 'post'

/** One named check: the LoginError its input fails with, or undefined when it passes. */
export interface Check<I> {
  readonly name: string
  readonly check: (input: I) => LoginError | undefined
}

/** Runs `checks` in order and returns the first failure, or undefined when every check passes. */
export function firstFailure<I> (checks: readonly Check<I>[], input: I): LoginError | undefined {
  for (const c of checks) {
    const e = c.check(input)
    if (e !== undefined) return e
  }
  return undefined
}

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

/** A longer state is not one Gatehouse issued: it is not looked up. */
const MAX_STATE_LENGTH = 512

/** What the callback checks before it looks up the login state: the parameters alone. */
export const SHAPE_CHECKS: readonly Check<URLSearchParams>[] = [
  {
    name: 'no repeated parameter',
    check: (params) => {
      const repeated = repeatedParameter(params)
      return repeated === undefined ? undefined : new LoginError('GH_LOGIN_REPEATED_PARAMETER', 400, `the sign-in response carries ${repeated} more than once`)
    },
  },
  {
    name: 'state present',
    check: (params) => {
      const state = params.get('state')
      return state === null || state === '' || state.length > MAX_STATE_LENGTH ? new LoginError('GH_LOGIN_NO_STATE', 400, 'the sign-in response carries no state') : undefined
    },
  },
]

/** An authorization response with what its login and provider expect of it. */
export interface AuthorizationResponse {
  readonly params: URLSearchParams
  readonly channel: ResponseChannel
  /** The state this login sent. */
  readonly state: string
  /** The provider's issuer, as discovered. */
  readonly issuer: string
  readonly responseType: string
  readonly responseMode: ResponseMode
}

function hasType (r: AuthorizationResponse, part: string): boolean {
  return r.responseType.split(' ').includes(part)
}

/** A parameter the response type requires (`when`): present and not empty. */
function required (name: string, when: (r: AuthorizationResponse) => boolean): Check<AuthorizationResponse> {
  return {
    name: `${name} present`,
    check: (r) => {
      if (!when(r)) return undefined
      const v = r.params.get(name)
      return v === null || v === '' ? new LoginError('GH_LOGIN_INCOMPLETE_RESPONSE', 400, `the sign-in response lacks ${name} (response_type ${r.responseType})`) : undefined
    },
  }
}

/** An access token from the authorization endpoint: implicit and hybrid flows with an ID token. */
const frontAccessToken = (r: AuthorizationResponse): boolean => hasType(r, 'id_token') && hasType(r, 'token')

/**
 * What the provider module checks before it verifies any token, in this
 * order: the response belongs to this login and this issuer, is not a
 * refusal, came by the configured response mode, and carries what the
 * response type requires.
 */
export const RESPONSE_CHECKS: readonly Check<AuthorizationResponse>[] = [
  {
    name: 'state matches',
    check: (r) => {
      const state = r.params.get('state')
      return state === null || !safeEqual(state, r.state) ? new LoginError('GH_LOGIN_STATE_MISMATCH', 400, 'the sign-in response names another sign-in (state)') : undefined
    },
  },
  {
    // Mix-up defence (RFC 9207): a response that says which issuer sent it must say ours.
    name: 'iss matches',
    check: (r) => {
      const iss = r.params.get('iss')
      return iss !== null && iss !== r.issuer ? new LoginError('GH_LOGIN_ISS_MISMATCH', 400, 'the sign-in response comes from another issuer (iss)') : undefined
    },
  },
  {
    name: 'not a refusal',
    check: (r) => {
      const error = r.params.get('error')
      return error !== null ? providerRefusal(error, r.params.get('error_description')) : undefined
    },
  },
  {
    // A response that arrives by another mode than the one requested was not
    // produced by the provider for this request (mod_auth_openidc checks the same).
    name: 'response mode',
    check: (r) => {
      const expected: ResponseChannel = r.responseMode === 'query' ? 'query' : 'post'
      return r.channel !== expected ? new LoginError('GH_LOGIN_RESPONSE_MODE', 400, `the sign-in response arrived by ${r.channel === 'query' ? 'query string' : 'POST'}, but this provider uses response_mode ${r.responseMode}`) : undefined
    },
  },
  required('code', (r) => hasType(r, 'code')),
  required('id_token', (r) => hasType(r, 'id_token')),
  required('token_type', frontAccessToken),
  {
    name: 'token_type Bearer',
    check: (r) => {
      const tokenType = r.params.get('token_type')
      // A missing token_type is the check above's to report.
      return frontAccessToken(r) && tokenType !== null && tokenType.toLowerCase() !== 'bearer' ? new LoginError('GH_LOGIN_TOKEN_TYPE', 400, `the access token is of type ${JSON.stringify(tokenType.slice(0, 40))}, not Bearer`) : undefined
    },
  },
  required('access_token', frontAccessToken),
]

/** A parsed form body (duplicates kept as arrays) as URLSearchParams, every copy kept. */
export function formParams (body: Record<string, string | string[]> | undefined): URLSearchParams {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(body ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, String(v))
  }
  return params
}
