import { errorStatus } from './errors/catalog.js'

export { ERROR_CODES, ERROR_FAMILIES, UPSTREAM_FAILURE_CODES, errorEntry, errorStatus, type ErrorEntry } from './errors/catalog.js'

interface ErrorOptions { cause?: unknown }

/**
 * Gatehouse's one error class. Every error the gateway raises on purpose has a
 * stable `code` (tests and logs assert on it, never on the message), the HTTP
 * `status` it maps to, and `expose` — whether its message may be shown to the
 * client (only for client faults; a 5xx never leaks internals). The status
 * defaults to the code's in the catalog (src/errors/catalog.ts).
 */
export class GatewayError extends Error {
  readonly code: string
  readonly status: number
  readonly expose: boolean

  constructor (code: string, message: string, options?: ErrorOptions)
  constructor (code: string, status: number, message: string, options?: ErrorOptions)
  constructor (code: string, statusOrMessage: number | string, messageOrOptions?: string | ErrorOptions, options?: ErrorOptions) {
    const explicit = typeof statusOrMessage === 'number'
    const message = explicit ? messageOrOptions as string : statusOrMessage
    const opts = explicit ? options : messageOrOptions as ErrorOptions | undefined
    super(message, opts)
    this.name = 'GatewayError'
    this.code = code
    this.status = explicit ? statusOrMessage : errorStatus(code)
    this.expose = this.status < 500
  }
}

/** The configuration is invalid; `problems` lists every `path: what is wrong`. */
export class ConfigError extends GatewayError {
  readonly problems: readonly string[]
  constructor (problems: string[]) {
    super('GH_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = Object.freeze([...problems])
  }
}

/** A login could not be completed (bad state, provider error, bad token...). */
export class LoginError extends GatewayError {
  constructor (code: string, message: string, options?: ErrorOptions)
  constructor (code: string, status: number, message: string, options?: ErrorOptions)
  constructor (code: string, statusOrMessage: number | string, messageOrOptions?: string | ErrorOptions, options?: ErrorOptions) {
    if (typeof statusOrMessage === 'number') super(code, statusOrMessage, messageOrOptions as string, options)
    else super(code, statusOrMessage, messageOrOptions as ErrorOptions | undefined)
    this.name = 'LoginError'
  }
}

/** The session cannot be stored: too large for the cookie chunks it may use. */
export class SessionTooLargeError extends GatewayError {
  constructor (message: string) {
    super('GH_SESSION_TOO_LARGE', message)
    this.name = 'SessionTooLargeError'
  }
}

/** The identity provider could not be reached or answered with a server error. */
export class ProviderUnavailableError extends GatewayError {
  constructor (message: string, options?: ErrorOptions) {
    super('GH_PROVIDER_UNAVAILABLE', message, options)
    this.name = 'ProviderUnavailableError'
  }
}

/** The session store (Redis) cannot be reached: requests that need it get 503 and retry. */
export class StoreUnavailableError extends GatewayError {
  constructor (message: string, options?: ErrorOptions) {
    super('GH_SESSION_STORE_UNAVAILABLE', message, options)
    this.name = 'StoreUnavailableError'
  }
}
