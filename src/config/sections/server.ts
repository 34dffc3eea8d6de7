import { choice, flag, listenAddress, optionalSection, url } from '../fields.js'

/** The top-level listener fields: where Gatehouse listens and the origin users see. */
export const listen = listenAddress({ def: '0.0.0.0:8080', description: 'host:port of the proxy listener ([::1]:8080 for IPv6)' })

export const publicUrl = url({ required: true, description: 'external origin users see (no path); redirect_uri = publicUrl + /.gatehouse/callback' })

export const trustProxy = flag({ def: false, description: 'true: honour X-Forwarded-Proto/-Host/-For from a load balancer in front' })

export const loginRedirect = choice(['provider', 'gateway'] as const, { def: 'provider', description: 'where an unauthenticated browser goes: the provider\'s login, or /.gatehouse/login first' })

export const admin = optionalSection({
  listen: listenAddress({ description: 'host:port for /healthz, /readyz, /metrics (not the proxy port)' }),
}, {
  description: 'the admin listener',
  build: (v) => v.listen !== undefined ? { listen: v.listen } : undefined,
})
