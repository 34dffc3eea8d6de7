/**
 * Route matching: host, then the route's path — a `pathRegex` that matches
 * the whole path, else the longest path prefix, matched on whole path
 * segments (`/app` matches `/app` and `/app/x`, never `/apple`) — and, where
 * a route lists `methods`, the request's method.
 *
 * The table is compiled once: one segment trie per exact host, per wildcard
 * suffix, and one for routes without a host. A regex route is filed in its
 * host's trie under the whole segments its pattern starts with literally
 * (`^/api/v[0-9]+$` under `/api`), so a lookup only tries the regexes on the
 * path it walks. A lookup costs one Map lookup per path segment (and per host
 * label for wildcards), plus the regexes filed on that path, whatever the
 * number of routes: 10,000 routes cost what 10 do.
 */

import { checkPathPattern } from './regex-safety.js'

export interface Routable {
  readonly host?: string
  /** Path prefix (ignored when `pathRegex` is set). */
  readonly path: string
  /** Matched anchored on the whole normalised path; checked safe at config load. */
  readonly pathRegex?: string
  /** Upper-case methods the route is limited to; any method when absent. */
  readonly methods?: readonly string[]
  readonly index: number
}

interface RegexEntry<T> {
  readonly re: RegExp
  readonly route: T
}

interface TrieNode<T> {
  children: Map<string, TrieNode<T>> | undefined
  /** Prefix routes ending here, in file order (several when they differ by method). */
  routes: T[] | undefined
  /** Regex routes filed here, in file order. */
  regexes: RegexEntry<T>[] | undefined
}

export interface RouteTable<T extends Routable> {
  readonly exact: Map<string, TrieNode<T>>
  /** Keyed by suffix including the leading dot: '.example.com'. */
  readonly wildcard: Map<string, TrieNode<T>>
  readonly any: TrieNode<T> | undefined
}

function newNode<T> (): TrieNode<T> { return { children: undefined, routes: undefined, regexes: undefined } }

function nodeAt<T> (root: TrieNode<T>, segments: readonly string[]): TrieNode<T> {
  let node = root
  for (const seg of segments) {
    node.children ??= new Map()
    let next = node.children.get(seg)
    if (next === undefined) { next = newNode(); node.children.set(seg, next) }
    node = next
  }
  return node
}

/** Inserts keeping file order: the first in the file wins among routes filed together. */
function ordered<E> (list: E[] | undefined, item: E, index: (e: E) => number): E[] {
  const out = list ?? []
  let at = out.length
  while (at > 0 && index(out[at - 1]!) > index(item)) at--
  out.splice(at, 0, item)
  return out
}

function insert<T extends Routable> (root: TrieNode<T>, route: T): void {
  if (route.pathRegex !== undefined) {
    const { regex, prefix } = checkPathPattern(route.pathRegex)
    // Whole segments only: `/api/v` files under /api (the `v` may continue).
    const literal = prefix.startsWith('/') ? prefix.slice(1, prefix.lastIndexOf('/') + 1) : ''
    const segments = literal === '' ? [] : literal.slice(0, -1).split('/')
    const node = nodeAt(root, segments)
    node.regexes = ordered(node.regexes, { re: regex, route }, (e) => e.route.index)
    return
  }
  const node = nodeAt(root, route.path === '/' ? [] : route.path.slice(1).split('/'))
  node.routes = ordered(node.routes, route, (r) => r.index)
}

/**
 * Compiles routes into a lookup table. Pure; call once at config load.
 * Throws when a `pathRegex` is unsafe (config validation refuses those first).
 */
export function buildRouteTable<T extends Routable> (routes: readonly T[]): RouteTable<T> {
  const exact = new Map<string, TrieNode<T>>()
  const wildcard = new Map<string, TrieNode<T>>()
  let any: TrieNode<T> | undefined
  for (const r of routes) {
    let root: TrieNode<T>
    if (r.host === undefined) root = any ??= newNode()
    else {
      const [map, key] = r.host.startsWith('*.') ? [wildcard, r.host.slice(1)] : [exact, r.host]
      root = map.get(key) ?? newNode()
      map.set(key, root)
    }
    insert(root, r)
  }
  return { exact, wildcard, any }
}

const allows = (r: Routable, method: string): boolean => r.methods === undefined || r.methods.includes(method)

function firstFor<T extends Routable> (routes: readonly T[] | undefined, method: string): T | undefined {
  if (routes !== undefined) for (const r of routes) if (allows(r, method)) return r
  return undefined
}

/** The earliest (in file order) regex route of `entries` that matches, if earlier than `best`. */
function firstRegex<T extends Routable> (entries: readonly RegexEntry<T>[], path: string, method: string, best: T | undefined): T | undefined {
  for (const e of entries) {
    if (best !== undefined && e.route.index > best.index) break
    if (allows(e.route, method) && e.re.test(path)) return e.route
  }
  return best
}

/** Within one host: a matching regex route (first in the file) beats every prefix route; else the longest prefix. */
function lookup<T extends Routable> (root: TrieNode<T>, path: string, method: string): T | undefined {
  let prefix = firstFor(root.routes, method)
  let regex = root.regexes === undefined ? undefined : firstRegex(root.regexes, path, method, undefined)
  let node: TrieNode<T> | undefined = root
  let start = 1
  while (node.children !== undefined && start <= path.length) {
    let end = path.indexOf('/', start)
    if (end === -1) end = path.length
    node = node.children.get(path.slice(start, end))
    if (node === undefined) break
    if (node.routes !== undefined) prefix = firstFor(node.routes, method) ?? prefix
    if (node.regexes !== undefined) regex = firstRegex(node.regexes, path, method, regex)
    start = end + 1
  }
  return regex ?? prefix
}

/**
 * Finds the route for a request. `host` is lower-case without port; `path`
 * is the normalised path without query string; `method` as the request gives
 * it. An exact host beats a wildcard host, which beats a route without host;
 * within a host a matching `pathRegex` route beats the prefix routes, and the
 * longest prefix wins among those. A route whose `methods` leave the
 * request's method out does not match, so the next route in that order does.
 */
export function matchRoute<T extends Routable> (table: RouteTable<T>, host: string, path: string, method: string): T | undefined {
  const exactRoot = table.exact.get(host)
  if (exactRoot !== undefined) {
    const r = lookup(exactRoot, path, method)
    if (r !== undefined) return r
  }
  if (table.wildcard.size > 0) {
    // Most specific suffix first: a.b.example.com tries .b.example.com, then .example.com, ...
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const root = table.wildcard.get(host.slice(dot))
      if (root !== undefined) {
        const r = lookup(root, path, method)
        if (r !== undefined) return r
      }
    }
  }
  return table.any === undefined ? undefined : lookup(table.any, path, method)
}

/**
 * Whether a route names `host` (lower-case, without port), exactly or by a
 * wildcard, under the same rule as matchRoute: `*.example.com` covers every
 * name that ends in `.example.com` (`a.example.com`, `a.b.example.com`),
 * never `example.com` itself. Routes without a host name none.
 */
export function namesHost<T extends Routable> (table: RouteTable<T>, host: string): boolean {
  if (table.exact.has(host)) return true
  if (table.wildcard.size === 0) return false
  for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
    if (table.wildcard.has(host.slice(dot))) return true
  }
  return false
}
