import { LoginError, ProviderUnavailableError, GatewayError } from '../errors.js'

/**
 * Provider failures mapped to GatewayErrors with stable codes. The mapping
 * reads plain data: oidc.ts, the only importer of openid-client, reduces the
 * library's error classes to a ProviderFailure first (see failureOf there).
 */

/** An openid-client error reduced to the fields the mapping reads. */
export type ProviderFailure =
  /** The provider redirected back with `?error=...` (AuthorizationResponseError). */
  | { readonly kind: 'refusal', readonly error: string, readonly description: string | undefined }
  /** An OAuth error body from an endpoint (ResponseBodyError). */
  | { readonly kind: 'body', readonly status: number, readonly error: string, readonly description: string | undefined }
  /** A WWW-Authenticate challenge: the provider refused the client's credentials. */
  | { readonly kind: 'challenge', readonly status: number }
  /** A check or transport failure inside the library (ClientError); `cause` is the error's own cause. */
  | { readonly kind: 'client', readonly code: string | undefined, readonly cause: unknown }

/**
 * Maps anything a provider call throws to a GatewayError with a stable code.
 * `failure` is what oidc.ts recognised of `err` (undefined when it is not an
 * openid-client error); `during` names the step in messages.
 */
export function providerError (err: unknown, failure: ProviderFailure | undefined, during: string): GatewayError {
  if (err instanceof GatewayError) return err
  switch (failure?.kind) {
    case 'refusal': {
      // The provider redirected back with ?error=... (e.g. the user denied consent).
      const e = providerRefusal(failure.error, failure.description)
      return new LoginError(e.code, e.status, e.message, { cause: err })
    }
    case 'body':
      if (failure.status >= 500) return new GatewayError('GH_PROVIDER_ERROR', 502, `the identity provider failed during ${during} (HTTP ${failure.status} ${failure.error})`, { cause: err })
      return new LoginError(`GH_LOGIN_${codePart(failure.error)}`, 400, `the identity provider rejected the ${during}: ${failure.error}${failure.description !== undefined ? ` (${failure.description})` : ''}`, { cause: err })
    case 'challenge':
      // The provider refused our own client credentials: a gateway misconfiguration, not the user's fault.
      return new GatewayError('GH_PROVIDER_REJECTED_CLIENT', 502, `the identity provider rejected the client credentials during ${during} (HTTP ${failure.status}); check clientId, clientSecret and tokenEndpointAuthMethod`, { cause: err })
    case 'client':
      return clientFailure(err as Error, failure, during)
  }
  if (err instanceof TypeError || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))) {
    return new ProviderUnavailableError(`cannot reach the identity provider during ${during}: ${describeNetworkError(err)}`, { cause: err })
  }
  return new GatewayError('GH_PROVIDER_ERROR', 502, `unexpected failure during ${during}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

function clientFailure (err: Error, failure: ProviderFailure & { kind: 'client' }, during: string): GatewayError {
  // openid-client wraps oauth4webapi's error, whose `cause` names the claim or attribute compared.
  const cause = (failure.cause as { cause?: { claim?: unknown, attribute?: unknown } } | undefined)?.cause
  switch (failure.code) {
    case 'OAUTH_TIMEOUT':
    case 'OAUTH_ABORT':
      return new ProviderUnavailableError(`the identity provider did not answer in time during ${during}`, { cause: err })
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
    case 'OAUTH_RESPONSE_IS_NOT_JSON':
      return new GatewayError('GH_PROVIDER_ERROR', 502, `the identity provider sent an unexpected response during ${during}`, { cause: err })
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      // The same codes verifyIdToken uses, whichever library saw the bad claim first.
      if (typeof cause?.claim === 'string') {
        const check = cause.claim === 'exp' ? 'EXPIRED' : codePart(cause.claim)
        return new LoginError(`GH_LOGIN_ID_TOKEN_${check}`, 400, `the ID token failed verification: ${err.message}`, { cause: err })
      }
      break
    case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
      if (during === 'userinfo' && cause?.attribute === 'sub') {
        return new LoginError('GH_LOGIN_USERINFO_SUB', 400, 'the userinfo response names another user than the ID token', { cause: err })
      }
      break
  }
  // Another check failed: state, iss parameter, a missing claim, ...
  return new LoginError('GH_LOGIN_INVALID_RESPONSE', 400, `the login response failed verification: ${err.message}${failure.cause instanceof Error ? `: ${failure.cause.message}` : ''}`, { cause: err })
}

/** Where openid-client looks for the discovery document: the issuer's path + /.well-known/openid-configuration. */
function discoveryUrl (issuer: string): string {
  const u = new URL(issuer)
  u.pathname = `${u.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`
  return u.href
}

/** The discovered issuer is not the configured one: a provider configuration problem, named with both values. */
export function issuerMismatch (configured: string, found: unknown): GatewayError {
  const f = typeof found === 'string' ? found : String(found)
  const hint = f.replace(/\/$/, '') === configured.replace(/\/$/, '')
    ? `they differ only by a trailing slash: configure issuer: ${f}`
    : 'check the issuer URL: it must be exactly the value the provider publishes'
  return new GatewayError('GH_PROVIDER_ISSUER_MISMATCH', 502, `discovery at ${discoveryUrl(configured)} names issuer ${JSON.stringify(f)}, not the configured ${JSON.stringify(configured)} (${hint})`)
}

/**
 * A failed discovery, described for the operator: the URL fetched, and what
 * came back (HTTP status and content type of a page that is not the discovery
 * document, the issuer it names). Network failures keep their own mapping.
 */
export function discoveryError (err: unknown, failure: ProviderFailure | undefined, configured: string): GatewayError {
  if (failure?.kind === 'client') {
    const cause = failure.cause as { attribute?: unknown, body?: { issuer?: unknown } } | Response | undefined
    if (failure.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' && !(cause instanceof Response) && cause?.attribute === 'issuer') {
      return issuerMismatch(configured, cause.body?.issuer)
    }
    if ((failure.code === 'OAUTH_RESPONSE_IS_NOT_JSON' || failure.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') && cause instanceof Response) {
      const type = cause.headers.get('content-type') ?? 'none'
      const what = cause.ok ? 'is not a discovery document (expected JSON)' : 'failed'
      return new GatewayError('GH_PROVIDER_DISCOVERY_FAILED', 502, `discovery at ${cause.url || discoveryUrl(configured)} ${what}: HTTP ${cause.status}, content-type ${type}; check the issuer URL`, { cause: err })
    }
  }
  const e = providerError(err, failure, 'discovery')
  if (e.code !== 'GH_LOGIN_INVALID_RESPONSE') return e
  // A malformed document is the provider's problem, never a login failure.
  return new GatewayError('GH_PROVIDER_DISCOVERY_FAILED', 502, `discovery at ${discoveryUrl(configured)}: ${(err as Error).message}`, { cause: err })
}

/** An OAuth error name or claim name as part of a code; the value comes from the network, so only a safe shape is kept. */
export function codePart (name: string): string {
  return /^[a-z0-9_]{1,64}$/i.test(name) ? name.toUpperCase() : 'UNKNOWN'
}

function describeNetworkError (err: Error): string {
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  return cause?.code ?? cause?.message ?? err.message
}

/** A provider refusal (`?error=...`) as a LoginError; the code is built from the OAuth `error` field, never from prose. */
export function providerRefusal (error: string, description: string | null | undefined): LoginError {
  const name = codePart(error)
  const status = error === 'access_denied' ? 403 : 400
  const detail = description !== null && description !== undefined ? ` (${description.slice(0, 200)})` : ''
  return new LoginError(`GH_LOGIN_PROVIDER_${name}`, status, `the identity provider refused the login: ${name.toLowerCase()}${detail}`)
}

/** Provider answers to `prompt=none` that mean "the user must interact": fall back to a normal login. */
export const INTERACTION_REQUIRED = new Set(['GH_LOGIN_PROVIDER_LOGIN_REQUIRED', 'GH_LOGIN_PROVIDER_INTERACTION_REQUIRED', 'GH_LOGIN_PROVIDER_CONSENT_REQUIRED', 'GH_LOGIN_PROVIDER_ACCOUNT_SELECTION_REQUIRED'])
