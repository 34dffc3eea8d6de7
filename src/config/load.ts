import { readFileSync } from 'node:fs'
import { parseDocument, type YAMLError } from 'yaml'
import { ConfigError } from '../errors.js'
import type { Config } from './types.js'
import { validateConfig } from './validate.js'

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

/**
 * Walks the parsed document and interpolates every string. (`…File` secrets
 * are read by the fields that accept them: see fields.ts.)
 */
function resolve (node: unknown, path: string, env: Env, problems: string[]): unknown {
  if (typeof node === 'string') return interpolate(node, env, path, problems)
  if (Array.isArray(node)) return node.map((v, i) => resolve(v, joinPath(path, i), env, problems))
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) out[k] = resolve(v, joinPath(path, k), env, problems)
    return out
  }
  return node
}

/** A YAML syntax error as `yaml: line L, column C: what`, without the parser's trailing colon and excerpt. */
function yamlProblem (e: YAMLError): string {
  const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '').replace(/:\s*$/, '')
  const pos = e.linePos?.[0]
  return pos !== undefined ? `yaml: line ${pos.line}, column ${pos.col}: ${what}` : `yaml: ${what}`
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
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) throw new ConfigError(doc.errors.map(yamlProblem))
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown
  const problems: string[] = []
  const resolved = resolve(raw, '', env, problems)
  // A field whose environment variable is unset is reported once, not again as "is required".
  const silenced = problems.map((p) => p.slice(0, p.indexOf(': ')))
  const { config, problems: more } = validateConfig(resolved, { ...(options.readFile !== undefined ? { readFile: options.readFile } : {}), silenced })
  problems.push(...more)
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
