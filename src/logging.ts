import type { Config } from './config/types.js'
import { queryRedactor } from './redact.js'

/**
 * The production logger's options (pino, through Fastify): level from the
 * config, and never a token in a line — Cookie, Authorization and Set-Cookie
 * are redacted, and request URLs lose the query parameters that carry codes,
 * states and tokens (redact.ts; `log.redactQueryParams` adds more).
 */
export function loggerOptions (config: Config): object {
  const redact = queryRedactor(config.log.redactQueryParams)
  return {
    level: config.log.level,
    redact: { paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    serializers: {
      req: (req: { method: string, url: string, ip?: string }) => ({ method: req.method, url: redact(req.url), remoteAddress: req.ip }),
    },
  }
}
