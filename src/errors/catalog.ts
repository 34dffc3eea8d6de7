/**
 * Every error code Gatehouse uses, in one table: the HTTP status it maps to,
 * the title of the error page, and the message shown to users when the error
 * carries none they may see (a 5xx never shows its own message; a 4xx shows
 * its own when the thrown error has one).
 *
 * Codes built at run time (from an OAuth `error` field, an ID-token check, a
 * login-state failure...) are listed as a family: a prefix ending in `_` with
 * the status and title of every member, plus the members known in advance.
 * test/unit/errors.test.ts checks that every code in src/ is listed here.
 */

export interface ErrorEntry {
  readonly status: number
  readonly title: string
  /** Shown to users when the error's own message is not exposed (5xx) or absent. */
  readonly message: string
}

const SIGN_IN_FAILED = 'Sign-in failed'
const SIGN_IN_UNAVAILABLE = 'Sign-in is unavailable'
const LOGIN_MESSAGE = 'Sign-in could not be completed. Please try again.'
const PROVIDER_MESSAGE = 'Sign-in could not be completed with the identity provider. If this keeps happening, give the administrator the correlation id below.'
const ID_TOKEN_MESSAGE = 'Sign-in could not be completed: the identity provider\'s ID token failed verification.'
const BACKCHANNEL_MESSAGE = 'The logout token was refused.'
const REFRESH_MESSAGE = 'The session ended because its tokens could not be refreshed; sign in again.'

const login = (message = LOGIN_MESSAGE): ErrorEntry => ({ status: 400, title: SIGN_IN_FAILED, message })
const provider = (title = SIGN_IN_UNAVAILABLE): ErrorEntry => ({ status: 502, title, message: PROVIDER_MESSAGE })
const idToken: ErrorEntry = login(ID_TOKEN_MESSAGE)
const backchannel: ErrorEntry = { status: 400, title: 'Logout token refused', message: BACKCHANNEL_MESSAGE }
const handoff = (message: string): ErrorEntry => ({ status: 400, title: SIGN_IN_FAILED, message })
const refresh: ErrorEntry = { status: 401, title: 'Session ended', message: REFRESH_MESSAGE }

/** Exact codes. */
export const ERROR_CODES: Readonly<Record<string, ErrorEntry>> = Object.freeze({
  // Requests Gatehouse answers itself.
  GH_ERROR: { status: 500, title: 'Internal error', message: 'Something went wrong in the gateway.' },
  GH_BAD_REQUEST: { status: 400, title: 'Bad request', message: 'The request cannot be accepted.' },
  GH_BAD_PATH: { status: 400, title: 'Bad request', message: 'The request path cannot be accepted.' },
  GH_NOT_FOUND: { status: 404, title: 'Not found', message: 'No such Gatehouse endpoint.' },
  GH_NO_ROUTE: { status: 404, title: 'Not found', message: 'No route is configured for this address.' },
  GH_FORBIDDEN: { status: 403, title: 'Access denied', message: 'You are signed in, but this account may not use this application.' },
  GH_RATE_LIMITED: { status: 429, title: 'Too many sign-in attempts', message: 'Too many sign-ins were started from your network address. Please wait and try again.' },
  // The sign-in chooser of a route with several providers (a page, not an error: the request needs a sign-in).
  GH_LOGIN_CHOOSE: { status: 401, title: 'Sign in', message: 'Choose how to sign in:' },
  GH_UNKNOWN_PROVIDER: { status: 400, title: 'Unknown identity provider', message: 'The sign-in link names an identity provider this gateway does not know.' },
  // Forward-auth calls (/.gatehouse/auth) whose original request cannot be read.
  GH_AUTH_NO_ORIGINAL_URL: { status: 400, title: 'Bad request', message: 'The forward-auth call does not say which request to judge: send X-Forwarded-Uri (with X-Forwarded-Host, -Proto, -Method), X-Original-URL, or X-Original-URI with Host.' },
  GH_AUTH_BAD_ORIGINAL: { status: 400, title: 'Bad request', message: 'The forward-auth call names its original request with a malformed, repeated or oversized header.' },
  GH_AUTH_AMBIGUOUS_ORIGINAL: { status: 400, title: 'Bad request', message: 'The forward-auth call names its original request in two ways; only one may be sent.' },
  GH_CONFIG_INVALID: { status: 500, title: 'Invalid configuration', message: 'The gateway configuration is invalid.' },
  // WebSocket upgrades (proxy/websocket.ts).
  GH_WEBSOCKET_BAD_UPGRADE: { status: 400, title: 'Bad request', message: 'The WebSocket upgrade request is not valid.' },
  GH_WEBSOCKET_REFUSED: { status: 403, title: 'WebSocket not allowed', message: 'This application does not accept WebSocket connections at this address.' },

  // The application (upstream) failed. The x-gatehouse-response mark of these
  // pages stays the failure kind (`unreachable`, `timeout`): UPSTREAM_FAILURE_CODES.
  GH_UPSTREAM_UNREACHABLE: { status: 502, title: 'Application unreachable', message: 'The application is not reachable right now.' },
  GH_UPSTREAM_TIMEOUT: { status: 504, title: 'Application timeout', message: 'The application did not answer in time.' },
  // upstreamToken.clientCredentials: the provider refused the gateway's own grant (a misconfiguration).
  GH_UPSTREAM_TOKEN_REFUSED: { status: 502, title: 'Application unavailable', message: 'The gateway could not obtain its credentials for the application. Give the administrator the correlation id below.' },

  // Sessions.
  GH_SESSION_STORE_UNAVAILABLE: { status: 503, title: 'Temporarily unavailable', message: 'A service Gatehouse depends on is unavailable. Please retry shortly.' },
  // 500, not 502: the provider answered correctly; it is the gateway's
  // cookie session store (at most MAX_CHUNKS cookies of CHUNK_SIZE) that
  // cannot hold these tokens and claims. The operator fixes it: a server-side
  // store (memory, redis) or fewer claims.
  GH_SESSION_TOO_LARGE: { status: 500, title: SIGN_IN_UNAVAILABLE, message: 'The session is too large to be kept in cookies. Give the administrator the correlation id below.' },

  // The identity provider failed or is misconfigured (never the user's fault).
  GH_PROVIDER_UNAVAILABLE: { status: 503, title: SIGN_IN_UNAVAILABLE, message: 'The identity provider could not be reached. Please try again in a moment.' },
  GH_PROVIDER_ERROR: provider(),
  GH_PROVIDER_REJECTED_CLIENT: provider(),
  GH_PROVIDER_ISSUER_MISMATCH: provider(),
  GH_PROVIDER_DISCOVERY_FAILED: provider(),
  GH_PROVIDER_NO_JWKS: provider(),
  GH_PROVIDER_NO_ALGORITHM: provider(),

  // The sign-in response or its tokens failed a check.
  GH_LOGIN_REPEATED_PARAMETER: login(),
  GH_LOGIN_NO_STATE: login(),
  GH_LOGIN_INVALID_RESPONSE: login(),
  GH_LOGIN_ISS_MISMATCH: login(),
  GH_LOGIN_RESPONSE_MODE: login(),
  GH_LOGIN_INCOMPLETE_RESPONSE: login(),
  GH_LOGIN_TOKEN_TYPE: login(),
  GH_LOGIN_NO_ID_TOKEN: login(),
  GH_LOGIN_USERINFO_SUB: login(),
  // Token-endpoint refusals (GH_LOGIN_ family below): the one every provider sends.
  GH_LOGIN_INVALID_GRANT: login(),

  // The login-state cookie (auth/login-state.ts reasons, upper-cased) and state checks.
  GH_LOGIN_STATE_MISSING: login('Sign-in could not be completed: this sign-in was not started in this browser, has already been used, or took too long.'),
  GH_LOGIN_STATE_INVALID: login('Sign-in could not be completed: the sign-in state could not be read.'),
  GH_LOGIN_STATE_EXPIRED: login('Sign-in could not be completed: the sign-in took too long.'),
  GH_LOGIN_STATE_STATE_MISMATCH: login('Sign-in could not be completed: the sign-in state does not match.'),
  GH_LOGIN_STATE_REPLAYED: login('Sign-in could not be completed: this sign-in response has already been used.'),
  GH_LOGIN_STATE_MISMATCH: login('Sign-in could not be completed: the sign-in response names another sign-in.'),

  // The one-time token that gives another host its session cookie (auth/handoff.ts).
  GH_HANDOFF_INVALID: handoff('The sign-in link is not valid. Please sign in again.'),
  GH_HANDOFF_WRONG_HOST: handoff('The sign-in link was made for another site. Please sign in again.'),
  GH_HANDOFF_EXPIRED: handoff('The sign-in link has expired. Please sign in again.'),
  GH_HANDOFF_WRONG_BROWSER: handoff('The sign-in link was made for another browser. Please sign in again.'),
  GH_HANDOFF_REPLAYED: handoff('The sign-in link has already been used. Please sign in again.'),
  GH_HANDOFF_SESSION_ENDED: handoff('The session this sign-in link was made for has ended. Please sign in again.'),

  // ID token checks (auth/id-token.ts, and the claims openid-client compares).
  GH_LOGIN_ID_TOKEN_MALFORMED: idToken,
  GH_LOGIN_ID_TOKEN_ALG: idToken,
  GH_LOGIN_ID_TOKEN_KEY: idToken,
  GH_LOGIN_ID_TOKEN_SIGNATURE: idToken,
  GH_LOGIN_ID_TOKEN_EXPIRED: idToken,
  GH_LOGIN_ID_TOKEN_ISS: idToken,
  GH_LOGIN_ID_TOKEN_TID: idToken,
  GH_LOGIN_ID_TOKEN_AUD: idToken,
  GH_LOGIN_ID_TOKEN_NBF: idToken,
  GH_LOGIN_ID_TOKEN_EXP: idToken,
  GH_LOGIN_ID_TOKEN_IAT: idToken,
  GH_LOGIN_ID_TOKEN_SUB: idToken,
  GH_LOGIN_ID_TOKEN_AZP: idToken,
  GH_LOGIN_ID_TOKEN_NONCE: idToken,
  GH_LOGIN_ID_TOKEN_AUTH_TIME: idToken,
  GH_LOGIN_ID_TOKEN_AT_HASH: idToken,
  GH_LOGIN_ID_TOKEN_C_HASH: idToken,

  // The provider refused the login (`?error=...`).
  GH_LOGIN_PROVIDER_ACCESS_DENIED: { status: 403, title: 'Access was not granted', message: 'The identity provider did not grant access.' },
  GH_LOGIN_PROVIDER_LOGIN_REQUIRED: login(),
  GH_LOGIN_PROVIDER_INTERACTION_REQUIRED: login(),
  GH_LOGIN_PROVIDER_CONSENT_REQUIRED: login(),
  GH_LOGIN_PROVIDER_ACCOUNT_SELECTION_REQUIRED: login(),

  // Back-channel logout rejections (auth/backchannel.ts, auth/logout-token.ts).
  // Never an HTML page: the 400 body stays {"error":"invalid_request"} as the
  // spec requires; the code goes to the log.
  GH_BACKCHANNEL_BAD_CONTENT_TYPE: backchannel,
  GH_BACKCHANNEL_MISSING_TOKEN: backchannel,
  GH_BACKCHANNEL_MALFORMED: backchannel,
  GH_BACKCHANNEL_UNKNOWN_ISSUER: backchannel,
  GH_BACKCHANNEL_REPLAYED: backchannel,
  GH_BACKCHANNEL_MISSING_JTI: backchannel,
  GH_BACKCHANNEL_BAD_EVENTS: backchannel,
  GH_BACKCHANNEL_HAS_NONCE: backchannel,
  GH_BACKCHANNEL_MISSING_SID_AND_SUB: backchannel,
  GH_BACKCHANNEL_BAD_SID: backchannel,
  GH_BACKCHANNEL_BAD_SUB: backchannel,
  GH_BACKCHANNEL_BAD_ISS: backchannel,
  GH_BACKCHANNEL_BAD_AUD: backchannel,
  GH_BACKCHANNEL_BAD_IAT: backchannel,
  GH_BACKCHANNEL_BAD_NBF: backchannel,
  GH_BACKCHANNEL_BAD_JTI: backchannel,
  GH_BACKCHANNEL_BAD_CLAIM: backchannel,
  GH_BACKCHANNEL_EXPIRED: backchannel,
  GH_BACKCHANNEL_BAD_SIGNATURE: backchannel,
  GH_BACKCHANNEL_UNKNOWN_KEY: backchannel,
  GH_BACKCHANNEL_BAD_ALG: backchannel,
  // The provider's keys could not be fetched: 503 {"error":"temporarily_unavailable"}.
  GH_BACKCHANNEL_KEYS_UNAVAILABLE: { status: 503, title: 'Temporarily unavailable', message: 'The provider keys could not be fetched.' },

  // Why a refresh ended the session (RefreshOutcome.reason): the request then
  // goes on unauthenticated (401 for an API client, a new login for a browser).
  GH_REFRESH_NO_REFRESH_TOKEN: refresh,
  GH_REFRESH_SESSION_ENDED: refresh,
  GH_REFRESH_INVALID_GRANT: refresh,
} satisfies Record<string, ErrorEntry>)

/** The catalog code of each upstream failure kind (proxy/forward.ts UpstreamFailure), logged with it. */
export const UPSTREAM_FAILURE_CODES = Object.freeze({
  unreachable: 'GH_UPSTREAM_UNREACHABLE',
  timeout: 'GH_UPSTREAM_TIMEOUT',
} as const)

/** Families of codes built at run time: prefix → what every member shares. */
export const ERROR_FAMILIES: Readonly<Record<string, ErrorEntry>> = Object.freeze({
  /** `GH_LOGIN_${OAuth error}`: the token endpoint refused the code exchange (4xx). */
  GH_LOGIN_: login(),
  /** `GH_LOGIN_STATE_${reason}`: the login-state cookie could not be used. */
  GH_LOGIN_STATE_: login(),
  /** `GH_LOGIN_ID_TOKEN_${check}`: the ID token failed that check. */
  GH_LOGIN_ID_TOKEN_: idToken,
  /** `GH_LOGIN_PROVIDER_${OAuth error}`: the provider refused the login (`?error=`). */
  GH_LOGIN_PROVIDER_: login(),
  /** `GH_BACKCHANNEL_BAD_${claim}`: a logout token claim failed its check. */
  GH_BACKCHANNEL_BAD_: backchannel,
  /** `GH_REFRESH_${OAuth error}`: the token endpoint refused the refresh. */
  GH_REFRESH_: refresh,
} satisfies Record<string, ErrorEntry>)

const FAMILY_PREFIXES = Object.keys(ERROR_FAMILIES).sort((a, b) => b.length - a.length)

/** The entry of a code: its own, else that of the longest family prefix it starts with. */
export function errorEntry (code: string): ErrorEntry | undefined {
  if (Object.hasOwn(ERROR_CODES, code)) return ERROR_CODES[code]
  const prefix = FAMILY_PREFIXES.find((p) => code.startsWith(p))
  return prefix !== undefined ? ERROR_FAMILIES[prefix] : undefined
}

/** The status of a code (500 for a code the catalog does not know: a bug, said as such). */
export function errorStatus (code: string): number {
  return errorEntry(code)?.status ?? 500
}
