import { X509Certificate } from 'node:crypto'
import { isLoopbackHost } from '../net/loopback.js'
import type { Config } from './types.js'

/**
 * Things a valid configuration does that an operator should know about at
 * start-up: flows RFC 9700 discourages, and form_post behind a plain-http
 * public URL, whose login cookie cannot be SameSite=None (see login-state.ts);
 * a TLS listener behind a plain-http publicUrl, or a certificate about to expire;
 * and an assertion asked of a route that never has a user to assert.
 */
export function configWarnings (config: Config, now = Date.now()): string[] {
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
  if (config.tls !== undefined) {
    if (!config.secure) out.push(`tls: the listener serves HTTPS but publicUrl is ${config.publicOrigin}: the redirect_uri is http and cookies are not Secure; write publicUrl with https://`)
    const expires = Date.parse(new X509Certificate(config.tls.cert).validTo)
    const days = Math.floor((expires - now) / 86_400_000)
    if (expires <= now) out.push(`tls.certFile: the certificate expired on ${new Date(expires).toISOString()}; browsers will refuse it`)
    else if (days < 7) out.push(`tls.certFile: the certificate expires on ${new Date(expires).toISOString()} (in ${days} day${days === 1 ? '' : 's'}); renew it and reload (SIGHUP)`)
  }
  for (const r of config.routes) {
    if (r.assertion && r.auth === 'public') out.push(`routes[${r.index}].assertion: a public route reads no session, so it never sends an assertion`)
  }
  return out
}
