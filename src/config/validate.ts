import { configFile } from './file.js'
import { Checker, describe, isObj, type CheckOptions } from './fields.js'
import type { Config } from './types.js'

// The pieces other modules use, where they have always been.
export { parseListen } from './fields.js'
export { yieldsAccessToken } from './sections/providers.js'
export { DEFAULT_HEADERS, normalisePrefix } from './sections/routes.js'
export { configWarnings } from './warnings.js'
export { isLoopbackHost } from '../net/loopback.js'

function deepFreeze<T> (o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}

/**
 * Validates a parsed (and env-interpolated) configuration object: every
 * problem at once, each as `path: what is wrong`. `…File` secrets are read
 * here (with `options.readFile`). Returns the normalised, frozen Config, or
 * the full list of problems.
 */
export function validateConfig (raw: unknown, options: CheckOptions = {}): { config?: Config, problems: string[] } {
  if (!isObj(raw)) return { problems: [`(top level): expected a map of settings, got ${describe(raw)}`] }
  const c = new Checker(options)
  const config = configFile.read(c, raw, '')
  if (c.problems.length > 0 || config === undefined) return { problems: c.problems }
  return { config: deepFreeze(config), problems: [] }
}
