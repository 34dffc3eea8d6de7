/**
 * Gatehouse's one error class. Every error the gateway raises on purpose has a
 * stable `code` (tests and logs assert on it, never on the message), the HTTP
 * `status` it maps to, and `expose` — whether its message may be shown to the
 * client (only for client faults; a 5xx never leaks internals).
 */
export class GatewayError extends Error {
  readonly code: string
  readonly status: number
  readonly expose: boolean

  constructor (code: string, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GatewayError'
    this.code = code
    this.status = status
    this.expose = status < 500
  }
}

/** The configuration is invalid; `problems` lists every `path: what is wrong`. */
export class ConfigError extends GatewayError {
  readonly problems: readonly string[]
  constructor (problems: string[]) {
    super('GH_CONFIG_INVALID', 500, `invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = Object.freeze([...problems])
  }
}

/** A login could not be completed (bad state, provider error, bad token...). */
export class LoginError extends GatewayError {
  constructor (code: string, status: number, message: string, options?: { cause?: unknown }) {
    super(code, status, message, options)
    this.name = 'LoginError'
  }
}

/** The identity provider could not be reached or answered with a server error. */
export class ProviderUnavailableError extends GatewayError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('GH_PROVIDER_UNAVAILABLE', 503, message, options)
    this.name = 'ProviderUnavailableError'
  }
}

/** The session store (Redis) cannot be reached: requests that need it get 503 and retry. */
export class StoreUnavailableError extends GatewayError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('GH_SESSION_STORE_UNAVAILABLE', 503, message, options)
    this.name = 'StoreUnavailableError'
  }
}
