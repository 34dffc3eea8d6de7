/**
 * The original request of a forward-auth call, read from the headers the
 * proxy in front sends along. Pure; table-tested in
 * test/unit/forward-auth/original.test.ts.
 *
 * Each proxy has its own spelling; exactly one is honoured per call:
 *
 * - `X-Forwarded-Uri` with `X-Forwarded-Method`, `-Host`, `-Proto`
 *   (Traefik ForwardAuth, Caddy forward_auth);
 * - `X-Original-URL` (absolute, or a path with `Host`), with
 *   `X-Original-Method` (nginx auth_request, ingress-nginx);
 * - `X-Original-URI` with `Host` (nginx);
 * - the path after `/.gatehouse/auth` with `Host` and the call's own method
 *   (Envoy ext_authz HTTP service with `path_prefix: /.gatehouse/auth`).
 *
 * A call carrying two of these spellings is refused: a proxy sets one of
 * them and passes the client's headers along, so a second one is what a
 * client sent to have another request judged in place of its own (nginx
 * passes a client's X-Forwarded-Uri to the auth subrequest; Traefik passes
 * a client's X-Original-URL). Every value is checked (one copy only, its
 * syntax, its length): bad input is a 400 with a catalog code, never a
 * guess. The path itself is judged afterwards, like any request's, by
 * routing/normalise.ts.
 */

export interface OriginalRequest {
  readonly method: string
  readonly proto: 'http' | 'https'
  /** The host as sent (with its port, if any). */
  readonly host: string
  /** Path and query as sent (origin-form, starts with '/'). */
  readonly target: string
  /** Which spelling it was read from. */
  readonly via: 'x-forwarded' | 'x-original-url' | 'x-original-uri' | 'path'
}

export type OriginalResult =
  | { readonly ok: true, readonly original: OriginalRequest }
  | { readonly ok: false, readonly code: 'GH_AUTH_NO_ORIGINAL_URL' | 'GH_AUTH_BAD_ORIGINAL' | 'GH_AUTH_AMBIGUOUS_ORIGINAL', readonly reason: string }

export interface CallInfo {
  /** The forward-auth call's own method (the original's when no header names one). */
  readonly method: string
  /** Path and query after `/.gatehouse/auth` (Envoy's shape), or undefined when the call is to `/.gatehouse/auth` itself. */
  readonly suffix: string | undefined
  /** The scheme assumed when the spelling carries none (publicUrl's). */
  readonly defaultProto: 'http' | 'https'
}

/** Longest original path and query accepted (nginx's default large_client_header_buffers is 8k). */
export const MAX_TARGET = 8192
const MAX_HOST = 255
const MAX_METHOD = 32

/** The headers read, lower-case; every other header is ignored here. */
const READ = ['x-forwarded-method', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-uri', 'x-original-url', 'x-original-uri', 'x-original-method', 'host'] as const
type Read = typeof READ[number]
const READ_SET: ReadonlySet<string> = new Set(READ)

// RFC 9110 token.
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// A host name or IPv4 (letters, digits, '-', '.', '_'), or an IPv6 literal; an optional port.
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/
// Origin-form request target: '/' then visible ASCII without '#'. Controls,
// spaces and non-ASCII are never part of a request line.
const TARGET = /^\/[\x21-\x22\x24-\x7e]*$/
const ABSOLUTE = /^(https?):\/\/([^/?#]*)(.*)$/i

const fail = (code: Extract<OriginalResult, { ok: false }>['code'], reason: string): OriginalResult => ({ ok: false, code, reason })

/** Every value of the headers read, by lower-case name, in arrival order (from Node's rawHeaders). */
export function readHeaders (rawHeaders: readonly string[]): Partial<Record<Read, string[]>> {
  const out: Partial<Record<Read, string[]>> = {}
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase()
    if (!READ_SET.has(name)) continue
    const list = out[name as Read]
    if (list === undefined) out[name as Read] = [rawHeaders[i + 1]!]
    else list.push(rawHeaders[i + 1]!)
  }
  return out
}

/** The one value of a header, or why not; undefined when absent. */
function single (h: Partial<Record<Read, string[]>>, name: Read, max: number): string | undefined | { bad: string } {
  const list = h[name]
  if (list === undefined) return undefined
  if (list.length > 1) return { bad: `${name} is sent ${list.length} times` }
  const v = list[0]!.trim()
  if (v === '') return { bad: `${name} is empty` }
  if (v.length > max) return { bad: `${name} is longer than ${max} characters` }
  return v
}

function checkMethod (v: string): string | undefined {
  return METHOD.test(v) && v.length <= MAX_METHOD ? v : undefined
}

function checkTarget (v: string): string | undefined {
  return TARGET.test(v) ? v : undefined
}

function checkHost (v: string): string | undefined {
  return v.length <= MAX_HOST && HOST.test(v) ? v : undefined
}

/**
 * Reads the original request from a forward-auth call's raw headers
 * (`rawHeaders`: Node's flat name/value list, every copy kept).
 */
export function readOriginal (rawHeaders: readonly string[], call: CallInfo): OriginalResult {
  const h = readHeaders(rawHeaders)
  const has = (n: Read): boolean => h[n] !== undefined
  const spellings = [has('x-forwarded-uri') && 'X-Forwarded-Uri', has('x-original-url') && 'X-Original-URL', has('x-original-uri') && 'X-Original-URI', call.suffix !== undefined && 'a path after /.gatehouse/auth']
    .filter((s): s is string => s !== false)
  if (spellings.length === 0) return fail('GH_AUTH_NO_ORIGINAL_URL', 'none of X-Forwarded-Uri, X-Original-URL, X-Original-URI is sent')
  // X-Original-URL and X-Original-URI together (ingress-nginx style) must say the same; any other pair is refused.
  const pairOk = spellings.length === 2 && has('x-original-url') && has('x-original-uri')
  if (spellings.length > 1 && !pairOk) return fail('GH_AUTH_AMBIGUOUS_ORIGINAL', `the original request is named twice (${spellings.join(' and ')})`)

  const value = (name: Read, max: number): string | undefined | { bad: string } => single(h, name, max)
  let method: string
  let proto: 'http' | 'https' = call.defaultProto
  let host: string | undefined | { bad: string }
  let target: string | undefined | { bad: string }
  let via: OriginalRequest['via']

  if (has('x-forwarded-uri')) {
    via = 'x-forwarded'
    const m = value('x-forwarded-method', MAX_METHOD * 4)
    if (typeof m === 'object') return fail('GH_AUTH_BAD_ORIGINAL', m.bad)
    const mm = checkMethod(m ?? call.method)
    if (mm === undefined) return fail('GH_AUTH_BAD_ORIGINAL', 'X-Forwarded-Method is not a method')
    method = mm
    const p = value('x-forwarded-proto', 16)
    if (typeof p === 'object') return fail('GH_AUTH_BAD_ORIGINAL', p.bad)
    if (p !== undefined) {
      const lp = p.toLowerCase()
      if (lp !== 'http' && lp !== 'https') return fail('GH_AUTH_BAD_ORIGINAL', 'X-Forwarded-Proto is neither http nor https')
      proto = lp
    }
    host = value('x-forwarded-host', MAX_HOST * 4) ?? value('host', MAX_HOST * 4)
    target = value('x-forwarded-uri', MAX_TARGET)
  } else {
    const m = value('x-original-method', MAX_METHOD * 4)
    if (typeof m === 'object') return fail('GH_AUTH_BAD_ORIGINAL', m.bad)
    const mm = checkMethod(m ?? call.method)
    if (mm === undefined) return fail('GH_AUTH_BAD_ORIGINAL', `${m === undefined ? 'the request method' : 'X-Original-Method'} is not a method`)
    method = mm
    if (has('x-original-url')) {
      via = 'x-original-url'
      const sent = value('x-original-url', MAX_TARGET + MAX_HOST + 16)
      if (typeof sent === 'object') return fail('GH_AUTH_BAD_ORIGINAL', sent.bad)
      const u = sent!
      const abs = ABSOLUTE.exec(u)
      if (abs !== null) {
        proto = abs[1]!.toLowerCase() as 'http' | 'https'
        if (abs[2]!.includes('@')) return fail('GH_AUTH_BAD_ORIGINAL', 'X-Original-URL has user information')
        host = abs[2]!
        const rest = abs[3]!
        target = rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? '/' + rest : rest
      } else if (u.charCodeAt(0) === 47 && u.charCodeAt(1) !== 47) {
        host = value('host', MAX_HOST * 4)
        target = u
      } else {
        return fail('GH_AUTH_BAD_ORIGINAL', 'X-Original-URL is neither an http(s) URL nor a path')
      }
      if (target.length > MAX_TARGET) return fail('GH_AUTH_BAD_ORIGINAL', `the original path is longer than ${MAX_TARGET} characters`)
      if (has('x-original-uri')) {
        const also = value('x-original-uri', MAX_TARGET)
        if (typeof also === 'object') return fail('GH_AUTH_BAD_ORIGINAL', also.bad)
        if (also !== target) return fail('GH_AUTH_AMBIGUOUS_ORIGINAL', 'X-Original-URL and X-Original-URI name different requests')
      }
    } else if (has('x-original-uri')) {
      via = 'x-original-uri'
      host = value('host', MAX_HOST * 4)
      target = value('x-original-uri', MAX_TARGET)
    } else {
      via = 'path'
      host = value('host', MAX_HOST * 4)
      target = call.suffix!
      if (target.length > MAX_TARGET) return fail('GH_AUTH_BAD_ORIGINAL', `the original path is longer than ${MAX_TARGET} characters`)
    }
  }
  if (typeof target === 'object') return fail('GH_AUTH_BAD_ORIGINAL', target.bad)
  if (target === undefined || checkTarget(target) === undefined) return fail('GH_AUTH_BAD_ORIGINAL', 'the original path is not a path (it must start with / and hold visible ASCII only)')
  if (typeof host === 'object') return fail('GH_AUTH_BAD_ORIGINAL', host.bad)
  if (host === undefined) return fail('GH_AUTH_BAD_ORIGINAL', 'the original host is not sent')
  if (checkHost(host) === undefined) return fail('GH_AUTH_BAD_ORIGINAL', 'the original host is not a host name')
  return { ok: true, original: { method, proto, host, target, via } }
}
