import { isLoopbackHost } from '../net/loopback.js'
import type { Config } from './types.js'

/**
 * Things a valid configuration does that an operator should know about at
 * start-up: flows RFC 9700 discourages, and form_post behind a plain-http
 * public URL, whose login cookie cannot be SameSite=None (see login-state.ts),
 * and an assertion asked of a route that never has a user to assert.
 */
export function configWarnings (config: Config): string[] {
  const out: string[] = []
  const publicHost = new URL(config.publicOrigin).hostname
  config.providers.forEach((p, i) => {
    if (p.responseType !== 'code') {
      out.push(`providers[${i}].responseType: ${JSON.stringify(p.responseType)} returns tokens from the authorization endpoint (implicit/hybrid), which RFC 9700 discourages; use "code" where the provider allows it`)
    }
    if (p.responseMode === 'form_post' && !config.secure && !isLoopbackHost(publicHost)) {
      out.push(`providers[${i}].responseMode: form_post with a plain-http publicUrl: the login cookie cannot be SameSite=None (browsers require Secure), so logins work only when the provider is on the same site as ${config.publicOrigin}`)
    }
  })
  for (const r of config.routes) {
    if (r.assertion && r.auth === 'public') out.push(`routes[${r.index}].assertion: a public route reads no session, so it never sends an assertion`)
  }
  return out
}
