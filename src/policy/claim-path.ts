import { PROTOCOL_CLAIMS } from '../session/session.js'
import type { Claims } from './evaluate.js'

/**
 * Claim names as `groupsClaim`, `allow.claims` and `headers` give them.
 * A name is looked up whole first, so a namespaced claim such as Auth0's
 * `https://example.com/roles` works, then as a dotted path into nested
 * objects (Keycloak's `realm_access.roles`, `resource_access.app.roles`).
 * Names are compiled once at config load into an accessor; a request only
 * walks the claims it was compiled for.
 */

/** Reads one claim (whole name, then dotted path) from a user's claims; undefined when absent. */
export type ClaimAccessor = (claims: Claims) => unknown

/**
 * Names that lead into an object's prototype rather than its data. A token's
 * claims come from JSON.parse, which can create an own `__proto__` key; such
 * names are never resolved, whole or as a path segment, so a claim can never
 * reach (or be read through) Object.prototype.
 */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

const hasOwn = Object.prototype.hasOwnProperty

/** The own, non-prototype property `key` of `obj`, or undefined. */
function own (obj: object, key: string): unknown {
  return hasOwn.call(obj, key) ? (obj as Record<string, unknown>)[key] : undefined
}

/** A plain JSON object (not an array, not null): the only thing a path walks into. */
function isObject (v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Why a claim name cannot be used, or undefined when it can. For config
 * validation: prototype keys, and protocol claims (`iss`, `aud`, `acr`, `sid`,
 * ...), which the session leaves out (session/session.ts).
 */
export function claimNameProblem (name: string): string | undefined {
  if (name === '') return 'a claim name cannot be empty'
  if (PROTOTYPE_KEYS.has(name) || name.split('.').some((s) => PROTOTYPE_KEYS.has(s))) {
    return `${JSON.stringify(name)} names an object prototype key (__proto__, constructor, prototype), never a claim`
  }
  const first = name.split('.', 1)[0]!
  if (PROTOCOL_CLAIMS.has(first)) {
    return `${JSON.stringify(first)} describes the token, not the user: the session does not keep it, so ${JSON.stringify(name)} would never be found`
  }
  return undefined
}

const NOTHING: ClaimAccessor = () => undefined

/**
 * Compiles a claim name into an accessor. A name with a prototype key is
 * never resolved (the accessor yields undefined; config validation reports
 * it). A name with an empty segment (`a..b`, `.a`, `a.`) is looked up whole only.
 */
export function claimAccessor (name: string): ClaimAccessor {
  if (claimNameProblem(name) !== undefined) return NOTHING
  const path = name.split('.')
  if (path.length === 1 || path.includes('')) return (claims) => own(claims, name)
  const [first, ...rest] = path as [string, ...string[]]
  return (claims) => {
    // The whole name wins: a provider's claim literally named `a.b` is that claim.
    if (hasOwn.call(claims, name)) return (claims as Record<string, unknown>)[name]
    let v = own(claims, first)
    for (const key of rest) {
      if (!isObject(v)) return undefined
      v = own(v, key)
    }
    return v
  }
}
