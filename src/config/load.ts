import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import { ConfigError } from '../errors.js'
import type { Config } from './types.js'
import { validateConfig } from './validate.js'

/** Fields whose value may instead be read from a file given as `<field>File`. */
const SECRET_FIELDS = new Set(['clientSecret', 'secret', 'secrets', 'privateKey', 'url', 'password'])
const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

type Env = Readonly<Record<string, string | undefined>>

/**
 * Replaces `${NAME}` and `${NAME:-default}` in a string; `$${` stands for a
 * literal `${`. Substitution happens on parsed YAML scalars, never on the raw
 * text, so a value with quotes or colons cannot change the document's shape.
 */
export function interpolate (value: string, env: Env, path: string, problems: string[]): string {
  return value.replace(ENV_REF, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${'
    const v = env[name!]
    if (v !== undefined && v !== '') return v
    if (fallback !== undefined) return fallback
    problems.push(`${path}: environment variable ${name} is not set`)
    return ''
  })
}

function joinPath (base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`
  return base === '' ? key : `${base}.${key}`
}

/** Walks the parsed document: interpolates strings and resolves `xFile` secrets. */
function resolve (node: unknown, path: string, env: Env, problems: string[], readFile: (p: string) => string): unknown {
  if (typeof node === 'string') return interpolate(node, env, path, problems)
  if (Array.isArray(node)) return node.map((v, i) => resolve(v, joinPath(path, i), env, problems, readFile))
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) out[k] = resolve(v, joinPath(path, k), env, problems, readFile)
    for (const k of Object.keys(out)) {
      if (!k.endsWith('File')) continue
      const field = k.slice(0, -4)
      if (!SECRET_FIELDS.has(field)) continue
      const filePath = out[k]
      delete out[k]
      if (field in out) {
        problems.push(`${joinPath(path, k)}: give either ${field} or ${k}, not both`)
        continue
      }
      if (typeof filePath !== 'string' || filePath === '') {
        problems.push(`${joinPath(path, k)}: expected a file path`)
        continue
      }
      try {
        const text = readFile(filePath).replace(/\r?\n$/, '')
        // `secretsFile` holds one secret per line, newest first.
        out[field] = field === 'secrets' ? text.split(/\r?\n/).map((s) => s.trim()).filter(Boolean) : text
      } catch (err) {
        problems.push(`${joinPath(path, k)}: cannot read ${JSON.stringify(filePath)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
    }
    return out
  }
  return node
}

export interface LoadOptions {
  env?: Env
  readFile?: (path: string) => string
}

/**
 * Parses and validates a configuration from YAML text. Throws a ConfigError
 * listing every problem (with its path in the file) when anything is wrong.
 */
export function parseConfig (text: string, options: LoadOptions = {}): Config {
  const env = options.env ?? process.env
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'))
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `yaml: ${e.message.split('\n')[0]}`))
  }
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown
  const problems: string[] = []
  const resolved = resolve(raw, '', env, problems, readFile)
  const { config, problems: more } = validateConfig(resolved)
  // A field whose environment variable is unset is reported once, not again as "is required".
  const reported = new Set(problems.map((p) => p.slice(0, p.indexOf(': '))))
  problems.push(...more.filter((p) => !reported.has(p.slice(0, p.indexOf(': ')))))
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems)
  return config
}

/** Reads, parses and validates a configuration file. */
export function loadConfigFile (file: string, options: LoadOptions = {}): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`])
  }
  return parseConfig(text, options)
}
