import { readFileSync } from 'node:fs'
import { parseDuration } from './duration.js'
import type { ListenAddress } from './types.js'

/**
 * The building blocks of the configuration file's definition. Every field is
 * declared once, with its JSON Schema and its validator side by side:
 * `gatehouse check` and `gatehouse schema` read the same definitions, so the
 * schema editors use cannot drift from what start-up accepts.
 *
 * Validation collects every problem with its path (`routes[2].upstream: ...`)
 * instead of stopping at the first, so an operator fixes a file in one pass.
 */

export type JsonSchema = { [keyword: string]: unknown }
export type Obj = Record<string, unknown>
export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

export function describe (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a map'
  return JSON.stringify(v)
}

/** `a.b`, or `b` at the top level. */
export const join = (base: string, key: string): string => base === '' ? key : `${base}.${key}`

export interface CheckOptions {
  /** Reads `…File` secrets (default: the file system). */
  readFile?: (path: string) => string
  /** Paths already reported elsewhere (an unset environment variable): nothing more is said about them. */
  silenced?: Iterable<string>
}

export class Checker {
  readonly problems: string[] = []
  readonly readFile: (path: string) => string
  readonly #silenced: Set<string>

  constructor (opts: CheckOptions = {}) {
    this.readFile = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'))
    this.#silenced = new Set(opts.silenced ?? [])
  }

  add (path: string, message: string): void {
    if (!this.#silenced.has(path)) this.problems.push(`${path}: ${message}`)
  }

  /** The value at `path` could not be read and that was reported: a second "is required" would only repeat it. */
  silence (path: string): void { this.#silenced.add(path) }
  isSilenced (path: string): boolean { return this.#silenced.has(path) }
}

/** One field of the file: its JSON Schema (of the raw YAML value) and its validator. */
export interface Field<T> {
  readonly schema: JsonSchema
  /** The value may be given as `<key>File` instead: the file's text, or (`lines`) one value per line. */
  readonly secret?: 'text' | 'lines'
  /** Listed in the schema's `required`. */
  readonly required?: boolean
  /** Validates the value at `path` (`undefined` when absent) and returns it normalised. */
  read (c: Checker, value: unknown, path: string, index?: number): T
}

/**
 * `${NAME}` references are replaced after parsing, so an editor sees the
 * reference itself: every typed field also accepts one.
 */
export const ENV_REF: JsonSchema = { type: 'string', pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}' }

interface Doc {
  /** One line for the schema (editors show it on hover). */
  readonly description: string
}

function doc (d: Doc, schema: JsonSchema, def?: unknown): JsonSchema {
  return { description: d.description, ...(def !== undefined ? { default: def } : {}), ...schema }
}

const absent = (v: unknown): boolean => v === undefined || v === null || v === ''

/** A value checked by a regular expression: the schema's `pattern` and the validator use the same one. */
export interface Pattern {
  readonly re: RegExp
  readonly message: (value: string) => string
}

interface TextOpts extends Doc {
  readonly required?: boolean
  readonly secret?: boolean
  readonly pattern?: Pattern
}

/** A string (numbers and booleans are taken as their text, as YAML users expect for ids). */
export function text (o: TextOpts & { def: string }): Field<string>
export function text (o: TextOpts): Field<string | undefined>
export function text (o: TextOpts & { def?: string }): Field<string | undefined> {
  const base: JsonSchema = o.pattern !== undefined
    ? { anyOf: [{ type: 'string', pattern: o.pattern.re.source }, ENV_REF] }
    : { type: o.secret === true ? 'string' : ['string', 'number', 'boolean'] }
  return {
    schema: doc(o, base, o.def),
    ...(o.secret === true ? { secret: 'text' as const } : {}),
    ...(o.required === true ? { required: true } : {}),
    read (c, v, path) {
      if (absent(v)) {
        if (o.required === true) c.add(path, 'is required')
        return o.def
      }
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') { c.add(path, `expected a string, got ${describe(v)}`); return o.def }
      const s = String(v)
      if (o.pattern !== undefined && !o.pattern.re.test(s)) { c.add(path, o.pattern.message(s)); return o.def }
      return s
    },
  }
}

/** true / false (also the strings, which is what `${VAR}` yields). */
export function flag (o: Doc & { def: boolean }): Field<boolean>
export function flag (o: Doc): Field<boolean | undefined>
export function flag (o: Doc & { def?: boolean }): Field<boolean | undefined> {
  return {
    schema: doc(o, { anyOf: [{ type: 'boolean' }, { enum: ['true', 'false'] }, ENV_REF] }, o.def),
    read (c, v, path) {
      if (absent(v)) return o.def
      if (typeof v === 'boolean') return v
      if (v === 'true') return true
      if (v === 'false') return false
      c.add(path, `expected true or false, got ${describe(v)}`)
      return o.def
    },
  }
}

export const intSchema = (min: number, max: number): JsonSchema[] => [{ type: 'integer', minimum: min, maximum: max }, { type: 'string', pattern: '^\\d+$' }]

/** A whole number from min to max. */
export function integer (o: Doc & { def: number, min: number, max: number }): Field<number> {
  return {
    schema: doc(o, { anyOf: [...intSchema(o.min, o.max), ENV_REF] }, o.def),
    read (c, v, path) {
      if (absent(v)) return o.def
      const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
      if (typeof n !== 'number' || !Number.isInteger(n) || n < o.min || n > o.max) {
        c.add(path, `expected a whole number from ${o.min} to ${o.max}, got ${describe(v)}`)
        return o.def
      }
      return n
    },
  }
}

/** One of a fixed set of strings. */
export function choice<T extends string> (allowed: readonly T[], o: Doc & { def: NoInfer<T> }): Field<T>
export function choice<T extends string> (allowed: readonly T[], o: Doc): Field<T | undefined>
export function choice<T extends string> (allowed: readonly T[], o: Doc & { def?: T }): Field<T | undefined> {
  return {
    schema: doc(o, { anyOf: [{ enum: [...allowed] }, ENV_REF] }, o.def),
    read (c, v, path) {
      if (absent(v)) return o.def
      if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T
      c.add(path, `expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(v)}`)
      return o.def
    },
  }
}

const DURATION_PATTERN = '^\\s*(\\d+|(\\d+(ms|s|m|h|d))+)\\s*$'

/** A duration (`90s`, `15m`, `1h30m`; a bare number is seconds), in milliseconds. */
export function duration (o: Doc & { def: string }): Field<number> {
  const def = parseDuration(o.def)!
  return {
    schema: doc(o, { anyOf: [{ type: 'string', pattern: DURATION_PATTERN }, { type: 'number', minimum: 0 }, ENV_REF] }, o.def),
    read (c, v, path) {
      if (absent(v)) return def
      const ms = parseDuration(v)
      if (ms === undefined) { c.add(path, `not a duration: ${describe(v)} (use e.g. 90s, 15m, 12h, 7d)`); return def }
      return ms
    },
  }
}

/** A list of strings; a single string is a list of one. */
export function strings (o: Doc & { secret?: boolean }): Field<string[] | undefined> {
  return {
    schema: doc(o, { anyOf: [{ type: 'string' }, { type: 'array', items: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'number' }] } }] }),
    ...(o.secret === true ? { secret: 'lines' as const } : {}),
    read (c, v, path) {
      if (v === undefined || v === null) return undefined
      const arr = typeof v === 'string' ? [v] : v
      if (!Array.isArray(arr)) { c.add(path, `expected a list of strings, got ${describe(v)}`); return undefined }
      const out: string[] = []
      arr.forEach((item, i) => {
        if (typeof item === 'string' && item !== '') out.push(item)
        else if (typeof item === 'number') out.push(String(item))
        else c.add(`${path}[${i}]`, `expected a non-empty string, got ${describe(item)}`)
      })
      return out
    },
  }
}

const LISTEN = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/

/** Parses `host:port`, `[::1]:port` or `:port`. */
export function parseListen (value: string): ListenAddress | undefined {
  const m = LISTEN.exec(value.trim())
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!)
  return { host, port }
}

/** A `host:port` to listen on. */
export function listenAddress (o: Doc & { def?: string }): Field<ListenAddress | undefined> {
  const inner = text({ description: o.description, ...(o.def !== undefined ? { def: o.def } : { required: true }) })
  return {
    schema: doc(o, { anyOf: [{ type: 'string', pattern: '^\\s*(\\[[0-9a-fA-F:.]+\\]|[^:\\[\\]]*):\\d{1,5}\\s*$' }, ENV_REF] }, o.def),
    ...(o.def === undefined ? { required: true } : {}),
    read (c, v, path) {
      const s = inner.read(c, v, path)
      if (s === undefined) return undefined
      const parsed = parseListen(s)
      if (parsed === undefined) c.add(path, `expected host:port, got ${JSON.stringify(s)}`)
      return parsed
    },
  }
}

/** Parses an http(s) URL without credentials, reporting why not. */
export function httpUrl (c: Checker, value: string | undefined, path: string): URL | undefined {
  if (value === undefined) return undefined
  let u: URL
  try { u = new URL(value) } catch { c.add(path, `not a URL: ${JSON.stringify(value)}`); return undefined }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') { c.add(path, `not a URL: ${JSON.stringify(value)} (expected http:// or https://)`); return undefined }
  if (u.username !== '' || u.password !== '') { c.add(path, 'must not contain credentials'); return undefined }
  return u
}

/** An http:// or https:// URL: the text as written, and parsed. */
export function url (o: Doc & { required?: boolean }): Field<{ text: string, url: URL } | undefined> {
  const inner = text(o)
  return {
    schema: doc(o, { anyOf: [{ type: 'string', pattern: '^https?://' }, ENV_REF] }),
    ...(o.required === true ? { required: true } : {}),
    read (c, v, path) {
      const s = inner.read(c, v, path)
      const u = httpUrl(c, s, path)
      return s !== undefined && u !== undefined ? { text: s, url: u } : undefined
    },
  }
}

/** A field whose schema and validator are written out by hand (maps of names, alternatives). */
export function custom<T> (schema: JsonSchema, read: (c: Checker, v: unknown, path: string) => T): Field<T> {
  return { schema, read }
}

type Fields = Record<string, Field<unknown>>
export type Values<F extends Fields> = { [K in keyof F]: F[K] extends Field<infer T> ? T : never }

export interface SectionInfo {
  /** The section was written in the file (as a map). */
  readonly present: boolean
  /** The section's map as written (empty when absent). */
  readonly raw: Obj
  readonly path: string
  /** Position in its list, for list items. */
  readonly index: number
}

interface SectionOpts<F extends Fields, T> extends Doc {
  /** Problem reported when the section is absent. */
  readonly required?: string
  /** Extra schema keywords (e.g. `anyOf` of alternative required fields). */
  readonly schema?: JsonSchema
  /** Turns the validated fields into the section's output; cross-field checks go here. */
  readonly build: (v: Values<F>, c: Checker, info: SectionInfo) => T
}

export interface Section<F extends Fields, T> extends Field<T> {
  readonly fields: F
}

function fieldNames (fields: Fields): string[] {
  return Object.entries(fields).flatMap(([k, f]) => f.secret !== undefined ? [k, `${k}File`] : [k])
}

function sectionSchema (fields: Fields, o: Doc & { schema?: JsonSchema }): JsonSchema {
  const properties: Record<string, JsonSchema> = {}
  const exclusive: JsonSchema[] = []
  for (const [k, f] of Object.entries(fields)) {
    properties[k] = f.schema
    if (f.secret !== undefined) {
      properties[`${k}File`] = { description: `file holding ${k}${f.secret === 'lines' ? ', one per line, newest first' : ''} (read at start, trailing newline trimmed)`, type: 'string', minLength: 1 }
      exclusive.push({ not: { required: [k, `${k}File`] } })
    }
  }
  const required = Object.entries(fields).filter(([, f]) => f.required === true && f.secret === undefined).map(([k]) => k)
  // A required secret is there when given either way.
  const eitherWay = Object.entries(fields).filter(([, f]) => f.required === true && f.secret !== undefined)
    .map(([k]) => ({ anyOf: [{ required: [k] }, { required: [`${k}File`] }] }))
  const extra = o.schema ?? {}
  const allOf = [...exclusive, ...eitherWay, ...((extra.allOf as JsonSchema[] | undefined) ?? [])]
  return {
    description: o.description,
    type: 'object',
    additionalProperties: false,
    properties,
    ...(required.length > 0 ? { required } : {}),
    ...extra,
    ...(allOf.length > 0 ? { allOf } : {}),
  }
}

/** `ENOENT (no such file or directory)` from a failed read. */
export function errnoText (err: unknown): string {
  const e = err as NodeJS.ErrnoException
  const what = /^[A-Z0-9_]+: ([^,]+)/.exec(e?.message ?? '')?.[1]
  if (e?.code !== undefined) return what !== undefined ? `${e.code} (${what})` : e.code
  return e?.message ?? String(err)
}

/** Reads `<key>File`; on failure reports it once, at the File path, and silences the field itself. */
function readSecretFile (c: Checker, file: unknown, key: string, path: string, kind: 'text' | 'lines'): unknown {
  const filePath = `${path}File`
  if (typeof file !== 'string' || file === '') { c.add(filePath, 'expected a file path'); c.silence(path); return undefined }
  let content: string
  try {
    content = c.readFile(file).replace(/\r?\n$/, '')
  } catch (err) {
    c.add(filePath, `cannot read ${JSON.stringify(file)}: ${errnoText(err)}`)
    c.silence(path)
    return undefined
  }
  if (content.trim() === '') { c.add(filePath, `${JSON.stringify(file)} is empty (expected the ${key})`); c.silence(path); return undefined }
  // `secretsFile` holds one secret per line, newest first.
  return kind === 'lines' ? content.split(/\r?\n/).map((s) => s.trim()).filter(Boolean) : content
}

function readFields<F extends Fields> (fields: F, c: Checker, obj: Obj, path: string): Values<F> {
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(fields)) {
    const p = join(path, key)
    let value = obj[key]
    const file = obj[`${key}File`]
    if (field.secret !== undefined && file !== undefined && file !== null) {
      if (value !== undefined) c.add(`${p}File`, `give either ${key} or ${key}File, not both`)
      else value = readSecretFile(c, file, key, p, field.secret)
    }
    out[key] = field.read(c, value, p)
  }
  return out as Values<F>
}

/**
 * A map of named fields. Unknown keys are errors (a typo is caught, not
 * ignored). An absent section is read as if empty: every field's default.
 */
export function section<F extends Fields, T> (fields: F, o: SectionOpts<F, T>): Section<F, T> {
  const names = fieldNames(fields)
  return {
    fields,
    schema: sectionSchema(fields, o),
    read (c, v, path, index = -1) {
      const present = isObj(v)
      if (!present) {
        if (v === undefined || v === null) { if (o.required !== undefined) c.add(path, o.required) } else c.add(path === '' ? '(top level)' : path, `expected a map${path === '' ? ' of settings' : ''}, got ${describe(v)}`)
      }
      const raw = isObj(v) ? v : {}
      for (const k of Object.keys(raw)) {
        if (!names.includes(k)) c.add(join(path, k), `unknown field (expected one of: ${names.join(', ')})`)
      }
      return o.build(readFields(fields, c, raw, path), c, { present, raw, path, index })
    },
  }
}

/** A section that is absent unless written: reads as undefined then. */
export function optionalSection<F extends Fields, T> (fields: F, o: SectionOpts<F, T>): Section<F, T | undefined> {
  const inner = section(fields, o)
  return {
    fields,
    schema: inner.schema,
    read (c, v, path, index) {
      if (v === undefined || v === null) return undefined
      if (!isObj(v)) { c.add(path, `expected a map, got ${describe(v)}`); return undefined }
      return inner.read(c, v, path, index)
    },
  }
}

/** A list of sections (`providers`, `routes`); `check` sees the valid items together. */
export function list<T> (item: Field<T | undefined>, o: Doc & { required: string, empty: string, check?: (items: readonly (readonly [index: number, item: T])[], c: Checker, path: string) => void }): Field<T[]> {
  return {
    schema: doc(o, { type: 'array', minItems: 1, items: item.schema }),
    required: true,
    read (c, v, path) {
      if (v === undefined || v === null) { c.add(path, o.required); return [] }
      if (!Array.isArray(v)) { c.add(path, `expected a list, got ${describe(v)}`); return [] }
      if (v.length === 0) { c.add(path, o.empty); return [] }
      const out: (readonly [number, T])[] = []
      v.forEach((x, i) => {
        if (!isObj(x)) { c.add(`${path}[${i}]`, `expected a map, got ${describe(x)}`); return }
        const r = item.read(c, x, `${path}[${i}]`, i)
        if (r !== undefined) out.push([i, r])
      })
      o.check?.(out, c, path)
      return out.map(([, r]) => r)
    },
  }
}
