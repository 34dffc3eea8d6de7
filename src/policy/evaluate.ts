import type { AllowConfig } from '../config/types.js'
import { claimAccessor, type ClaimAccessor } from './claim-path.js'

export type Claims = Readonly<Record<string, unknown>>

export interface Decision {
  readonly allow: boolean
  /** Why access was refused (for logs and the 403 page), or 'ok'. */
  readonly reason: string
}

/**
 * A route policy compiled once at load into sets and claim accessors (whole
 * name, then dotted path); evaluation allocates nothing.
 */
export interface CompiledPolicy {
  readonly emails?: ReadonlySet<string>
  readonly domains?: ReadonlySet<string>
  readonly groups?: ReadonlySet<string>
  readonly claims?: readonly (readonly [name: string, get: ClaimAccessor, allowed: ReadonlySet<string>])[]
  readonly groupsClaim: string
  readonly getGroups: ClaimAccessor
}

const ALLOW: Decision = Object.freeze({ allow: true, reason: 'ok' })

/** Compiles an `allow` block. Emails and domains compare case-insensitively. */
export function compilePolicy (allow: AllowConfig | undefined, groupsClaim = 'groups'): CompiledPolicy | undefined {
  if (allow === undefined) return undefined
  const p: { -readonly [K in keyof CompiledPolicy]: CompiledPolicy[K] } = { groupsClaim, getGroups: claimAccessor(groupsClaim) }
  if (allow.emails !== undefined) p.emails = new Set(allow.emails.map((e) => e.toLowerCase()))
  if (allow.domains !== undefined) p.domains = new Set(allow.domains.map((d) => d.toLowerCase()))
  if (allow.groups !== undefined) p.groups = new Set(allow.groups)
  if (allow.claims !== undefined) p.claims = Object.entries(allow.claims).map(([k, vs]) => [k, claimAccessor(k), new Set(vs.map(String))] as const)
  return Object.freeze(p)
}

function asList (v: unknown): readonly unknown[] {
  if (Array.isArray(v)) return v
  if (v === undefined || v === null) return []
  // Some providers send groups as a single space- or comma-separated string.
  if (typeof v === 'string') return v.includes(',') ? v.split(',').map((s) => s.trim()) : [v]
  return [v]
}

function anyIn (values: readonly unknown[], set: ReadonlySet<string>): boolean {
  for (const v of values) {
    if ((typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && set.has(String(v))) return true
  }
  return false
}

/**
 * Evaluates a compiled policy against a user's claims. Every kind listed must
 * pass (AND); within a kind any listed value passes (OR). No policy: allow.
 * An email counts only when it has exactly one '@' and, if the provider says
 * so, is verified (`email_verified: false` never passes an email or domain rule).
 */
export function evaluatePolicy (policy: CompiledPolicy | undefined, claims: Claims): Decision {
  if (policy === undefined) return ALLOW
  if (policy.emails !== undefined || policy.domains !== undefined) {
    const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : undefined
    const at = email === undefined ? -1 : email.indexOf('@')
    if (email === undefined || at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) {
      return { allow: false, reason: 'no valid email claim' }
    }
    if (claims.email_verified === false) return { allow: false, reason: 'email not verified' }
    if (policy.emails !== undefined && !policy.emails.has(email)) {
      // An email list and a domain list together: passing either one is enough
      // would surprise; both kinds are separate requirements, like the others.
      return { allow: false, reason: 'email not allowed' }
    }
    if (policy.domains !== undefined && !policy.domains.has(email.slice(at + 1))) return { allow: false, reason: 'email domain not allowed' }
  }
  if (policy.groups !== undefined && !anyIn(asList(policy.getGroups(claims)), policy.groups)) {
    return { allow: false, reason: 'not in an allowed group' }
  }
  if (policy.claims !== undefined) {
    for (const [name, get, allowed] of policy.claims) {
      if (!anyIn(asList(get(claims)), allowed)) return { allow: false, reason: `claim ${name} not allowed` }
    }
  }
  return ALLOW
}
