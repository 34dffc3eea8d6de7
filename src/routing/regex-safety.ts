/**
 * Which `pathRegex` patterns are safe to run on every request.
 *
 * JavaScript's RegExp engine backtracks: a pattern that can match the same
 * text in many ways (`(a+)+`, `(a|a)*`, `.*.*x`) takes exponential or
 * polynomial time on a crafted path, and one request can hold the event loop
 * for seconds. Instead of a second regex engine on the hot path, each pattern
 * is checked once at load and refused unless its matching time is linear.
 *
 * The check is exact for the regular core of the syntax and conservative
 * elsewhere. The pattern is parsed (the `u` syntax) and turned into a
 * position automaton (Glushkov) that counts ε-paths, so a loop reachable in
 * two ways (`(a*)*`, `(a?b?)+`) shows as two parallel edges. A backtracker
 * explores every run of that automaton, so its time is bounded by the
 * automaton's degree of ambiguity (Weideman et al. 2016):
 *
 * - exponential (EDA): a state with two different cycles on the same word:
 *   in the product automaton, a diagonal pair (q,q) shares a strongly
 *   connected part with an off-diagonal pair or a doubled edge;
 * - polynomial (IDA): states p ≠ q with p→p, p→q and q→q on one word w:
 *   in the triple product, (p,p,q) reaches (p,q,q).
 *
 * Either is refused. So are the constructs that are not regular or defeat
 * the analysis: backreferences, lookarounds, a repeated group that can
 * match the empty string. Large bounded repeats (`{n,m}`) are analysed as
 * unbounded, and character property escapes (`\p{…}`) as any character,
 * which only refuses more.
 *
 * Patterns are matched anchored: the route compiles `^(?:pattern)$`.
 */

/** Code point ranges [lo, hi], sorted, disjoint. */
type Ranges = readonly (readonly [number, number])[]

type Node =
  | { readonly t: 'char', readonly set: Ranges }
  | { readonly t: 'empty' }
  | { readonly t: 'seq', readonly items: readonly Node[] }
  | { readonly t: 'alt', readonly alts: readonly Node[] }
  | { readonly t: 'rep', readonly body: Node, readonly min: number, readonly max: number }

const MAX_CP = 0x10ffff
const ANY: Ranges = [[0, MAX_CP]]
const DIGIT: Ranges = [[0x30, 0x39]]
const WORD: Ranges = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]]
const SPACE: Ranges = [[0x09, 0x0d], [0x20, 0x20], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]]
/** `.` without the `s` flag: anything but a line terminator. */
const DOT: Ranges = [[0, 0x09], [0x0b, 0x0c], [0x0e, 0x2027], [0x202a, MAX_CP]]

function normalise (rs: (readonly [number, number])[]): Ranges {
  const sorted = [...rs].sort((a, b) => a[0] - b[0])
  const out: [number, number][] = []
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi)
    else out.push([lo, hi])
  }
  return out
}

function complement (rs: Ranges): Ranges {
  const out: [number, number][] = []
  let next = 0
  for (const [lo, hi] of rs) {
    if (lo > next) out.push([next, lo - 1])
    next = hi + 1
  }
  if (next <= MAX_CP) out.push([next, MAX_CP])
  return out
}

function intersect (a: Ranges, b: Ranges): Ranges {
  const out: [number, number][] = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i]![0], b[j]![0])
    const hi = Math.min(a[i]![1], b[j]![1])
    if (lo <= hi) out.push([lo, hi])
    if (a[i]![1] < b[j]![1]) i++
    else j++
  }
  return out
}

/** A pattern refused: why, in words for the config problem. */
export class UnsafePattern extends Error {}

const SYNTAX = '^$\\.*+?()[]{}|/'

class Parser {
  i = 0
  constructor (readonly src: string) {}

  parse (): Node {
    const n = this.alt()
    if (this.i < this.src.length) throw new UnsafePattern(`unexpected ${JSON.stringify(this.src[this.i])}`)
    return n
  }

  alt (): Node {
    const alts = [this.seq()]
    while (this.src[this.i] === '|') { this.i++; alts.push(this.seq()) }
    return alts.length === 1 ? alts[0]! : { t: 'alt', alts }
  }

  seq (): Node {
    const items: Node[] = []
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      items.push(this.quantified(this.atom()))
    }
    return items.length === 1 ? items[0]! : { t: 'seq', items }
  }

  quantified (atom: Node): Node {
    const c = this.src[this.i]
    let min: number
    let max: number
    if (c === '*') { min = 0; max = Infinity; this.i++ } else if (c === '+') { min = 1; max = Infinity; this.i++ } else if (c === '?') { min = 0; max = 1; this.i++ } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i))
      if (m === null) throw new UnsafePattern('a "{" that is not a repeat count (write \\{)')
      min = Number(m[1])
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3])
      this.i += m[0].length
    } else return atom
    if (this.src[this.i] === '?') this.i++ // lazy: the same runs, in another order
    if (atom.t === 'empty') throw new UnsafePattern('a quantifier on an assertion')
    return { t: 'rep', body: atom, min, max }
  }

  atom (): Node {
    const c = this.src[this.i++]!
    switch (c) {
      case '^': case '$': return { t: 'empty' }
      case '.': return { t: 'char', set: DOT }
      case '[': return { t: 'char', set: this.cls() }
      case '\\': return this.escape(false) as Node
      case '(': {
        if (this.src[this.i] === '?') {
          const rest = this.src.slice(this.i + 1)
          if (rest.startsWith(':')) this.i += 2
          else if (/^<[A-Za-z_$][\w$]*>/.test(rest)) this.i = this.src.indexOf('>', this.i) + 1
          else if (/^(=|!|<=|<!)/.test(rest)) throw new UnsafePattern('lookahead and lookbehind are not supported (they defeat the linear-time check)')
          else throw new UnsafePattern('unknown group syntax "(?"')
        }
        const inner = this.alt()
        if (this.src[this.i] !== ')') throw new UnsafePattern('unbalanced "("')
        this.i++
        return inner
      }
      case ')': throw new UnsafePattern('unbalanced ")"')
      case '*': case '+': case '?': case '{': throw new UnsafePattern(`nothing to repeat before "${c}"`)
      case ']': case '}': throw new UnsafePattern(`a lone "${c}" (write \\${c})`)
      default: {
        const cp = this.src.codePointAt(this.i - 1)!
        if (cp > 0xffff) this.i++
        return { t: 'char', set: [[cp, cp]] }
      }
    }
  }

  /** After a backslash. In a class, `\b` is a backspace and assertions are not allowed. */
  escape (inClass: boolean): Node | Ranges {
    const c = this.src[this.i++]
    if (c === undefined) throw new UnsafePattern('a trailing backslash')
    const one = (cp: number): Node | Ranges => inClass ? [[cp, cp]] : { t: 'char', set: [[cp, cp]] }
    const set = (rs: Ranges): Node | Ranges => inClass ? rs : { t: 'char', set: rs }
    switch (c) {
      case 'd': return set(DIGIT)
      case 'D': return set(complement(DIGIT))
      case 'w': return set(WORD)
      case 'W': return set(complement(WORD))
      case 's': return set(SPACE)
      case 'S': return set(complement(SPACE))
      case 'b': return inClass ? [[8, 8]] : { t: 'empty' }
      case 'B': if (!inClass) return { t: 'empty' }; break
      case 'n': return one(10)
      case 'r': return one(13)
      case 't': return one(9)
      case 'f': return one(12)
      case 'v': return one(11)
      case '0': if (!/[0-9]/.test(this.src[this.i] ?? '')) return one(0); break
      case 'c': {
        const l = this.src[this.i]
        if (l !== undefined && /[A-Za-z]/.test(l)) { this.i++; return one(l.charCodeAt(0) % 32) }
        break
      }
      case 'x': {
        const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i))
        if (m !== null) { this.i += 2; return one(parseInt(m[0], 16)) }
        break
      }
      case 'u': {
        const m = /^(?:([0-9a-fA-F]{4})|\{([0-9a-fA-F]{1,6})\})/.exec(this.src.slice(this.i))
        if (m !== null) { this.i += m[0].length; return one(parseInt(m[1] ?? m[2]!, 16)) }
        break
      }
      case 'p': case 'P': {
        const m = /^\{[A-Za-z_=]+\}/.exec(this.src.slice(this.i))
        // Any character: the property is checked by RegExp itself; the analysis only over-approximates.
        if (m !== null) { this.i += m[0].length; return set(ANY) }
        break
      }
      case 'k': throw new UnsafePattern('backreferences are not supported (they defeat the linear-time check)')
      default:
        if (/[1-9]/.test(c)) throw new UnsafePattern('backreferences are not supported (they defeat the linear-time check)')
        if (SYNTAX.includes(c) || (inClass && c === '-')) return one(c.charCodeAt(0))
    }
    throw new UnsafePattern(`unknown escape "\\${c}"`)
  }

  cls (): Ranges {
    const negate = this.src[this.i] === '^'
    if (negate) this.i++
    const parts: (readonly [number, number])[] = []
    const single = (): Ranges => {
      const c = this.src[this.i]
      if (c === undefined) throw new UnsafePattern('unterminated "["')
      if (c === '\\') { this.i++; return this.escape(true) as Ranges }
      const cp = this.src.codePointAt(this.i)!
      this.i += cp > 0xffff ? 2 : 1
      return [[cp, cp]]
    }
    while (this.src[this.i] !== ']') {
      if (this.i >= this.src.length) throw new UnsafePattern('unterminated "["')
      const a = single()
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        this.i++
        const b = single()
        if (a.length !== 1 || b.length !== 1 || a[0]![0] !== a[0]![1] || b[0]![0] !== b[0]![1]) throw new UnsafePattern('a class range between sets')
        if (a[0]![0] > b[0]![0]) throw new UnsafePattern('a class range out of order')
        parts.push([a[0]![0], b[0]![0]])
      } else parts.push(...a)
    }
    this.i++
    const rs = normalise(parts)
    return negate ? complement(rs) : rs
  }
}

/** Saturating at 2: one path or more than one is all the analysis needs. */
const add = (a: number, b: number): number => Math.min(2, a + b)
const mul = (a: number, b: number): number => Math.min(2, a * b)

type Bag = Map<number, number>

function merge (into: Bag, from: Bag, times = 1): Bag {
  if (times === 0) return into
  for (const [k, v] of from) into.set(k, add(into.get(k) ?? 0, mul(v, times)))
  return into
}

interface Frag { first: Bag, last: Bag, nullable: number }

/** Above this many positions the pattern is refused as too large to check. */
const MAX_POSITIONS = 300
/** Bounded repeats are unrolled while the copies stay this small. */
const UNROLL_LIMIT = 64

function size (n: Node): number {
  switch (n.t) {
    case 'char': return 1
    case 'empty': return 0
    case 'seq': return n.items.reduce((s, x) => s + size(x), 0)
    case 'alt': return n.alts.reduce((s, x) => s + size(x), 0)
    case 'rep': return size(n.body)
  }
}

/** The position automaton with ε-path counts: state 0 is the start, states 1.. the character positions. */
class Automaton {
  readonly sets: Ranges[] = [[]]
  readonly follow: Bag[] = [new Map()]

  build (n: Node): Frag {
    switch (n.t) {
      case 'char': {
        const id = this.sets.length
        if (id > MAX_POSITIONS) throw new UnsafePattern('too large to check')
        this.sets.push(n.set)
        this.follow.push(new Map())
        return { first: new Map([[id, 1]]), last: new Map([[id, 1]]), nullable: 0 }
      }
      case 'empty': return { first: new Map(), last: new Map(), nullable: 1 }
      case 'alt': {
        const out: Frag = { first: new Map(), last: new Map(), nullable: 0 }
        for (const a of n.alts) {
          const f = this.build(a)
          merge(out.first, f.first)
          merge(out.last, f.last)
          out.nullable = add(out.nullable, f.nullable)
        }
        return out
      }
      case 'seq': {
        let acc: Frag = { first: new Map(), last: new Map(), nullable: 1 }
        for (const item of n.items) acc = this.concat(acc, this.build(item))
        return acc
      }
      case 'rep': {
        const unbounded = n.max === Infinity
        const unroll = unbounded ? n.min : n.max
        if (unroll * size(n.body) <= UNROLL_LIMIT) {
          let acc: Frag = { first: new Map(), last: new Map(), nullable: 1 }
          for (let k = 0; k < n.min; k++) acc = this.concat(acc, this.build(n.body))
          if (unbounded) return this.concat(acc, this.star(n.body))
          // x{2,4} = x x (x (x)?)?
          let opt: Frag = { first: new Map(), last: new Map(), nullable: 1 }
          for (let k = n.max - n.min; k > 0; k--) {
            const body = this.build(n.body)
            const inner = this.concat(body, opt)
            opt = { first: inner.first, last: inner.last, nullable: add(inner.nullable, 1) }
          }
          return this.concat(acc, opt)
        }
        // Too many copies to unroll: x{n,m} is analysed as x x* (or x*), a superset of its runs.
        const star = this.star(n.body)
        return n.min > 0 ? this.concat(this.build(n.body), star) : star
      }
    }
  }

  star (body: Node): Frag {
    const f = this.build(body)
    if (f.nullable > 0) throw new UnsafePattern('a repeated part can match the empty string (catastrophic backtracking)')
    for (const [x, cx] of f.last) merge(this.follow[x]!, f.first, cx)
    return { first: f.first, last: f.last, nullable: 1 }
  }

  concat (a: Frag, b: Frag): Frag {
    for (const [x, cx] of a.last) merge(this.follow[x]!, b.first, cx)
    const first = merge(new Map(a.first), b.first, a.nullable)
    const last = merge(new Map(b.last), a.last, b.nullable)
    return { first, last, nullable: mul(a.nullable, b.nullable) }
  }
}

const EXPONENTIAL = 'it can match the same text in exponentially many ways (catastrophic backtracking)'

/** Work budget for the product searches; a pattern that exceeds it is refused. */
const BUDGET = 2_000_000

function analyse (a: Automaton, root: Frag): void {
  merge(a.follow[0]!, root.first)
  const n = a.sets.length
  const succ = a.follow.map((m) => [...m.keys()])
  let work = 0
  const spend = (k: number): void => { work += k; if (work > BUDGET) throw new UnsafePattern('too complex to check') }
  const meet = new Map<number, boolean>()
  const overlaps = (x: number, y: number): boolean => {
    const key = x < y ? x * n + y : y * n + x
    let v = meet.get(key)
    if (v === undefined) { v = intersect(a.sets[x]!, a.sets[y]!).length > 0; meet.set(key, v) }
    return v
  }

  // The product automaton A×A: pairs reachable from (0,0).
  const pairSucc = new Map<number, number[]>()
  const doubled = new Set<number>() // diagonal edges p→r taken by two different ε-paths: key p*n+r
  for (let p = 0; p < n; p++) for (const [r, c] of a.follow[p]!) if (c > 1) doubled.add(p * n + r)
  const stack = [0]
  pairSucc.set(0, [])
  while (stack.length > 0) {
    const key = stack.pop()!
    const p = Math.floor(key / n)
    const q = key % n
    const out: number[] = []
    for (const x of succ[p]!) {
      spend(succ[q]!.length)
      for (const y of succ[q]!) {
        if (!overlaps(x, y)) continue
        const k = x * n + y
        out.push(k)
        if (!pairSucc.has(k)) { pairSucc.set(k, []); stack.push(k) }
      }
    }
    pairSucc.set(key, out)
  }
  const pairPred = new Map<number, number[]>()
  for (const [k, outs] of pairSucc) for (const o of outs) { let l = pairPred.get(o); if (l === undefined) pairPred.set(o, l = []); l.push(k) }
  const reach = (from: number, edges: Map<number, number[]>): Set<number> => {
    const seen = new Set([from])
    const todo = [from]
    while (todo.length > 0) {
      const k = todo.pop()!
      for (const o of edges.get(k) ?? []) if (!seen.has(o)) { seen.add(o); todo.push(o) }
    }
    spend(seen.size)
    return seen
  }
  // A state on a cycle of A, for the loops both tests look for.
  const looping: number[] = []
  for (let q = 1; q < n; q++) {
    const d = q * n + q
    if (!pairSucc.has(d)) continue
    const fwd = reach(d, pairSucc)
    const bwd = reach(d, pairPred)
    let component = 0
    for (const k of fwd) {
      if (!bwd.has(k)) continue
      component++
      const p = Math.floor(k / n)
      if (p !== k % n) throw new UnsafePattern(EXPONENTIAL)
      for (const o of pairSucc.get(k)!) {
        const x = Math.floor(o / n)
        if (x === o % n && bwd.has(o) && doubled.has(p * n + x)) throw new UnsafePattern(EXPONENTIAL)
      }
    }
    if (component > 1 || pairSucc.get(d)!.includes(d)) looping.push(q)
  }
  // Polynomial: p ≠ q looping, with p→p, p→q, q→q on one word.
  for (const p of looping) {
    for (const q of looping) {
      if (p === q) continue
      const start: [number, number, number] = [p, p, q]
      const seen = new Set<string>([start.join()])
      const todo = [start]
      while (todo.length > 0) {
        const [x, y, z] = todo.pop()!
        spend(succ[x]!.length * succ[y]!.length * succ[z]!.length)
        for (const x2 of succ[x]!) {
          for (const y2 of succ[y]!) {
            if (!overlaps(x2, y2)) continue
            for (const z2 of succ[z]!) {
              if (!overlaps(x2, z2) || !overlaps(y2, z2)) continue
              if (intersect(intersect(a.sets[x2]!, a.sets[y2]!), a.sets[z2]!).length === 0) continue
              if (x2 === p && y2 === q && z2 === q) throw new UnsafePattern('it can match the same text in polynomially many ways (slow backtracking on long paths)')
              const k = `${x2},${y2},${z2}`
              if (!seen.has(k)) { seen.add(k); todo.push([x2, y2, z2]) }
            }
          }
        }
      }
    }
  }
}

/** The literal text every match starts with (`/api/v` for `^/api/v[0-9]+$`). */
function literalPrefix (n: Node): string {
  const items = n.t === 'seq' ? n.items : [n]
  let out = ''
  for (const item of items) {
    if (item.t === 'empty') { if (out === '') continue; break }
    if (item.t === 'seq') { const inner = literalPrefix(item); out += inner; if (size(item) !== [...inner].length) break; continue }
    if (item.t !== 'char' || item.set.length !== 1 || item.set[0]![0] !== item.set[0]![1]) break
    out += String.fromCodePoint(item.set[0]![0])
  }
  return out
}

export interface CheckedPattern {
  /** `^(?:pattern)$` with the `u` flag. */
  readonly regex: RegExp
  /** Literal text at the start of every match: the routing index files the route under its whole segments. */
  readonly prefix: string
}

/** Verdicts by pattern: config validation and the route table check the same patterns (and a reload, mostly the same again). */
const verdicts = new Map<string, CheckedPattern | UnsafePattern>()
const MAX_VERDICTS = 50_000

/**
 * Checks and compiles a route's `pathRegex`. Throws UnsafePattern (with the
 * reason) when the pattern does not compile or could backtrack
 * catastrophically. Pure (the verdict is remembered); call at config load.
 */
export function checkPathPattern (pattern: string): CheckedPattern {
  let verdict = verdicts.get(pattern)
  if (verdict === undefined) {
    try {
      verdict = check(pattern)
    } catch (err) {
      if (!(err instanceof UnsafePattern)) throw err
      verdict = err
    }
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear()
    verdicts.set(pattern, verdict)
  }
  if (verdict instanceof UnsafePattern) throw verdict
  return verdict
}

function check (pattern: string): CheckedPattern {
  let regex: RegExp
  try {
    regex = new RegExp(`^(?:${pattern})$`, 'u')
  } catch (err) {
    throw new UnsafePattern(`not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`)
  }
  const tree = new Parser(pattern).parse()
  const a = new Automaton()
  analyse(a, a.build(tree))
  return { regex, prefix: literalPrefix(tree) }
}
