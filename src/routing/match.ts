/**
 * Route matching: host, then the longest path prefix, matched on whole path
 * segments (`/app` matches `/app` and `/app/x`, never `/apple`).
 *
 * The table is compiled once: one segment trie per exact host, per wildcard
 * suffix, and one for routes without a host. A lookup costs one Map lookup per
 * path segment (and per host label for wildcards) whatever the number of
 * routes, so 10,000 routes cost what 10 do.
 */

export interface Routable {
  readonly host?: string
  readonly path: string
  readonly index: number
}

interface TrieNode<T> {
  children: Map<string, TrieNode<T>> | undefined
  route: T | undefined
}

export interface RouteTable<T extends Routable> {
  readonly exact: Map<string, TrieNode<T>>
  /** Keyed by suffix including the leading dot: '.example.com'. */
  readonly wildcard: Map<string, TrieNode<T>>
  readonly any: TrieNode<T> | undefined
}

function newNode<T> (): TrieNode<T> { return { children: undefined, route: undefined } }

function insert<T extends Routable> (root: TrieNode<T>, route: T): void {
  let node = root
  if (route.path !== '/') {
    for (const seg of route.path.slice(1).split('/')) {
      node.children ??= new Map()
      let next = node.children.get(seg)
      if (next === undefined) { next = newNode(); node.children.set(seg, next) }
      node = next
    }
  }
  // First in the file wins among routes with the same host and path.
  if (node.route === undefined || node.route.index > route.index) node.route = route
}

/** Compiles routes into a lookup table. Pure; call once at config load. */
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

function longestPrefix<T> (root: TrieNode<T>, path: string): T | undefined {
  let best = root.route
  let node: TrieNode<T> | undefined = root
  let start = 1
  while (node.children !== undefined && start <= path.length) {
    let end = path.indexOf('/', start)
    if (end === -1) end = path.length
    node = node.children.get(path.slice(start, end))
    if (node === undefined) break
    if (node.route !== undefined) best = node.route
    start = end + 1
  }
  return best
}

/**
 * Finds the route for a request. `host` is lower-case without port; `path`
 * is the path without query string. An exact host beats a wildcard host,
 * which beats a route without host; within a host the longest prefix wins.
 */
export function matchRoute<T extends Routable> (table: RouteTable<T>, host: string, path: string): T | undefined {
  const exactRoot = table.exact.get(host)
  if (exactRoot !== undefined) {
    const r = longestPrefix(exactRoot, path)
    if (r !== undefined) return r
  }
  if (table.wildcard.size > 0) {
    // Most specific suffix first: a.b.example.com tries .b.example.com, then .example.com, ...
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const root = table.wildcard.get(host.slice(dot))
      if (root !== undefined) {
        const r = longestPrefix(root, path)
        if (r !== undefined) return r
      }
    }
  }
  return table.any === undefined ? undefined : longestPrefix(table.any, path)
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
