import type { Gateway } from '../context.js'
import type { Action } from '../pipeline/decide.js'

/**
 * Adds the signed identity assertion to a forwarded request's headers (the
 * forward Action says when): the signer reuses the session's assertion for
 * this upstream while it is fresh, so most requests sign nothing. The groups
 * come from the claim the session's own provider names (groupsClaim).
 */
export function attachAssertion (gw: Gateway, action: Extract<Action, { kind: 'forward' }>, headers: Record<string, string | string[]>, now: number): void {
  const signer = gw.assertion
  const session = action.session
  if (signer === undefined || session === null) return
  const provider = gw.providers.get(session.provider) ?? action.route.oidc
  headers[signer.header] = signer.token(session, action.route.audience, provider.cfg.groupsClaim, now)
}
