import { usableCpus } from '../../cluster/cpus.js'
import { choice, custom, duration, ENV_REF, flag, integer, intSchema, section, strings, type Checker } from '../fields.js'

/** Logging, upstream connections and worker processes: how the gateway runs, not what it serves. */

export const log = section({
  level: choice(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, { def: 'info', description: 'JSON lines on stdout' }),
  requests: flag({ def: false, description: 'Fastify\'s own request/response log lines (costs CPU on every request)' }),
  access: flag({ def: true, description: 'one JSON access-log line per request' }),
  flushInterval: duration({ def: '1s', description: 'access-log lines are written together (at most 4 KiB per write) at least this often; 0: each line at once' }),
  redactQueryParams: strings({ description: 'query parameters redacted in log lines, on top of the built-in list' }),
}, {
  description: 'logging',
  build: (v) => ({ level: v.level as string, requests: v.requests, access: v.access, flushInterval: v.flushInterval, redactQueryParams: v.redactQueryParams ?? [] }),
})

export const limits = section({
  loginsPerMinute: integer({ def: 0, min: 0, max: 1_000_000, description: 'logins and callbacks per client address per minute (0: no limit); over it, 429 with Retry-After' }),
}, {
  description: 'rate limits',
  build: (v) => ({ loginsPerMinute: v.loginsPerMinute }),
})

export const upstream = section({
  connections: integer({ def: 64, min: 1, max: 10_000, description: 'keep-alive connections per upstream origin' }),
  connectTimeout: duration({ def: '5s', description: 'time to connect to an upstream' }),
  timeout: duration({ def: '60s', description: 'time to the upstream\'s response headers (and between body chunks); then 504' }),
}, {
  description: 'connections to upstreams',
  build: (v) => ({ connections: v.connections, connectTimeout: v.connectTimeout, timeout: v.timeout }),
})

const workerCount = integer({ def: 1, min: 1, max: 256, description: '' })

export const workers = custom(
  { description: 'processes serving the proxy port: 1-256, or auto (one per CPU the process may use, within a container\'s CPU limit)', default: 1, anyOf: [{ const: 'auto' }, ...intSchema(1, 256), ENV_REF] },
  // `auto`: one worker per CPU the process may use (its affinity and its cgroup's CPU quota).
  (c: Checker, v: unknown, path: string): number => v === 'auto' ? Math.min(256, usableCpus()) : workerCount.read(c, v, path),
)

export const shutdownGrace = duration({ def: '10s', description: 'SIGTERM/SIGINT: how long the proxy keeps serving in-flight and new requests (readiness already failing) before it exits' })

export const reload = section({
  watch: flag({ def: false, description: 'reload when the file, or a secret file it names, changes (as SIGHUP does); for ConfigMap updates' }),
}, {
  description: 'configuration reloads',
  build: (v) => ({ watch: v.watch }),
})
