import { collectDefaultMetrics, Registry } from 'prom-client'

/**
 * Gatehouse's Prometheus metrics, exposed through a prom-client Registry
 * (with prom-client's standard `process_*` and `nodejs_*` metrics).
 *
 * The hot path never touches prom-client: prom-client's labelled children
 * hash their label object into a string on every `inc()`/`observe()`. Here
 * every series is a slot in a typed array that exists from start-up (each
 * route's status codes, each decision and reason, each login and refresh
 * result), so counting is an index into an array found by a route's index;
 * prom-client reads the arrays when /metrics is scraped. Label values are
 * bounded by construction: a route is its `name` or its index, a status
 * code is one of CODES or its class (`2xx`...), everything else is a fixed list.
 */

/** Seconds: a gateway adds well under a millisecond; upstreams take what they take. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])

/** Status codes with a series of their own from start-up; any other counts under its class. */
export const CODES: readonly number[] = Object.freeze([200, 204, 301, 302, 303, 304, 400, 401, 403, 404, 429, 500, 502, 503, 504])
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
/** status -> slot; slots 0..CODES-1 are the codes, then one per class. */
const SLOT = new Uint8Array(600)
for (let s = 0; s < 600; s++) SLOT[s] = CODES.length + Math.min(4, Math.max(0, Math.floor(s / 100) - 1))
CODES.forEach((c, i) => { SLOT[c] = i })
const CODE_LABELS = [...CODES.map(String), ...CLASSES]
export function codeSlot (status: number): number {
  return status >= 100 && status < 600 ? SLOT[status]! : CODES.length + 4
}

/** A histogram as plain numbers: bucket counts (not cumulative), sum and count. */
export class Histogram {
  readonly counts = new Float64Array(DURATION_BUCKETS.length + 1)
  sum = 0
  count = 0

  observe (seconds: number): void {
    let i = 0
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++
    this.counts[i]!++
    this.sum += seconds
    this.count++
  }
}

/** One route's series, created at start-up; the request path holds a reference. */
export class RouteMetrics {
  readonly label: string
  readonly codes = new Float64Array(CODE_LABELS.length)
  readonly duration = new Histogram()
  readonly upstream = new Histogram()
  constructor (label: string) { this.label = label }

  /** A finished request: its status and duration (seconds). */
  record (status: number, seconds: number): void {
    this.codes[codeSlot(status)]!++
    this.duration.observe(seconds)
  }
}

/** Outcomes of `gatehouse_requests_total{outcome}` (kept from the first metrics). */
export const OUTCOMES = ['proxied', 'proxied_anonymous', 'unauthenticated', 'login_redirect', 'renew_redirect', 'forbidden', 'rate_limited', 'bad_request', 'no_route', 'provider_unavailable'] as const
export type Outcome = typeof OUTCOMES[number]

/** `gatehouse_auth_decisions_total{decision,reason}` as `decision:reason`: every pair exists from start-up. */
export const DECISIONS = [
  'allow:public', 'allow:session', 'allow:anonymous', 'allow:bearer',
  'deny:unauthenticated', 'deny:policy', 'deny:rate_limited', 'deny:bearer_invalid',
  'login:redirect', 'login:renew',
  'error:provider_unavailable',
] as const
export type Decision = typeof DECISIONS[number]

/** name -> slot, so counting is a property read and an array index. */
function slots<T extends string> (names: readonly T[]): Readonly<Record<T, number>> {
  return Object.freeze(Object.fromEntries(names.map((n, i) => [n, i]))) as Record<T, number>
}

export const LOGIN_RESULTS = ['ok', 'renewed', 'failed', 'rate_limited'] as const
export type LoginResult = typeof LOGIN_RESULTS[number]
const OUTCOME_SLOT = slots(OUTCOMES)
const DECISION_SLOT = slots(DECISIONS)
const LOGIN_SLOT = slots(LOGIN_RESULTS)
export const REFRESH_RESULTS = ['refreshed', 'shared', 'ended', 'unavailable'] as const
export type RefreshResult = typeof REFRESH_RESULTS[number]
const REFRESH_SLOT = slots(REFRESH_RESULTS)
export const UPSTREAM_ERRORS = ['unreachable', 'timeout', 'aborted'] as const
export type UpstreamErrorKind = typeof UPSTREAM_ERRORS[number]
const UPSTREAM_ERROR_SLOT = slots(UPSTREAM_ERRORS)

/** Route labels of requests that match no configured route (Gatehouse's endpoints, 404s, bad paths). */
export const ENDPOINT_LABELS = ['gatehouse:login', 'gatehouse:callback', 'gatehouse:logout', 'gatehouse:userinfo', 'gatehouse:backchannel-logout', 'gatehouse:jwks', 'gatehouse:auth', 'gatehouse:other', 'none'] as const
export type EndpointLabel = typeof ENDPOINT_LABELS[number]

interface Sample { value: number, labels: Record<string, string | number>, metricName?: string }
type Kind = 'counter' | 'gauge' | 'histogram'

/** A metric in prom-client's collector shape, read from our own arrays at scrape time. */
class Collected {
  readonly aggregator = 'sum'
  constructor (readonly name: string, readonly help: string, readonly type: Kind, readonly read: () => Sample[]) {}
  async get (): Promise<{ name: string, help: string, type: Kind, aggregator: string, values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() }
  }
}

function histogramSamples (name: string, labels: Record<string, string>, h: Histogram, out: Sample[]): void {
  let cumulative = 0
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    cumulative += h.counts[i]!
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: DURATION_BUCKETS[i]! }, value: cumulative })
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count })
  out.push({ metricName: `${name}_sum`, labels, value: h.sum })
  out.push({ metricName: `${name}_count`, labels, value: h.count })
}

export interface MetricsOptions {
  /** Route labels in route order: the route's `name`, else its index. */
  readonly routes: readonly string[]
  /** prom-client's process_* and nodejs_* metrics (default true). */
  readonly defaultMetrics?: boolean
}

/** What became of WebSocket upgrades: tunnelled, refused by the decision or the route (401, 403, 404...), bad handshakes, upstream failures (or a non-101 answer passed through). */
export const WEBSOCKET_RESULTS = ['tunnelled', 'refused', 'bad_request', 'upstream_failed', 'upstream_refused'] as const
export type WebSocketResult = typeof WEBSOCKET_RESULTS[number]

/** Results of a configuration reload. */
export const RELOAD_RESULTS = ['ok', 'invalid', 'refused', 'error'] as const
export type ReloadResult = typeof RELOAD_RESULTS[number]

export class Metrics {
  readonly registry = new Registry()
  /** By label: a reload that keeps a route's name (or index) keeps its series. */
  readonly #routes = new Map<string, RouteMetrics>()
  readonly #routeList: RouteMetrics[]
  readonly #reloads = new Float64Array(RELOAD_RESULTS.length)
  readonly #endpoints = new Map<string, RouteMetrics>()
  readonly #outcomes = new Float64Array(OUTCOMES.length)
  readonly #decisions = new Float64Array(DECISIONS.length)
  readonly #logins = new Float64Array(LOGIN_RESULTS.length)
  readonly #refreshes = new Float64Array(REFRESH_RESULTS.length)
  readonly #upstreamErrors = new Float64Array(UPSTREAM_ERRORS.length)
  #backchannelLogouts = 0
  readonly #websockets = new Float64Array(WEBSOCKET_RESULTS.length)
  /** WebSocket tunnels open now. */
  websocketsOpen = 0

  constructor (opts: MetricsOptions) {
    this.#routeList = opts.routes.map((l) => this.routeNamed(l))
    for (const l of ENDPOINT_LABELS) this.#endpoints.set(l, new RouteMetrics(l))
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry })
    const all = (): RouteMetrics[] => [...this.#routes.values(), ...this.#endpoints.values()]
    this.#add('gatehouse_http_requests_total', 'Requests on the proxy listener, by route (its name or index; gatehouse:* for the gateway\'s own endpoints, none for no route) and status code (or class).', 'counter', () => {
      const out: Sample[] = []
      for (const r of all()) {
        r.codes.forEach((v, i) => {
          if (i < CODES.length || v > 0) out.push({ labels: { route: r.label, code: CODE_LABELS[i]! }, value: v })
        })
      }
      return out
    })
    this.#add('gatehouse_http_request_duration_seconds', 'Time from the request\'s arrival to the last byte of the response, by route.', 'histogram', () => {
      const out: Sample[] = []
      for (const r of all()) histogramSamples('gatehouse_http_request_duration_seconds', { route: r.label }, r.duration, out)
      return out
    })
    this.#add('gatehouse_upstream_request_duration_seconds', 'Time from dispatching a request to the upstream to its response headers, by route.', 'histogram', () => {
      const out: Sample[] = []
      for (const r of this.#routes.values()) histogramSamples('gatehouse_upstream_request_duration_seconds', { route: r.label }, r.upstream, out)
      return out
    })
    this.#add('gatehouse_auth_decisions_total', 'What the request path decided for requests on configured routes, and why.', 'counter', () => {
      return DECISIONS.map((key, i) => {
        const colon = key.indexOf(':')
        return { labels: { decision: key.slice(0, colon), reason: key.slice(colon + 1) }, value: this.#decisions[i]! }
      })
    })
    this.#add('gatehouse_logins_total', 'Logins completed (ok, renewed without interaction), failed, or refused by limits.loginsPerMinute.', 'counter', () => LOGIN_RESULTS.map((result, i) => ({ labels: { result }, value: this.#logins[i]! })))
    this.#add('gatehouse_refreshes_total', 'Token refreshes, by result (shared: another replica had refreshed).', 'counter', () => REFRESH_RESULTS.map((result, i) => ({ labels: { result }, value: this.#refreshes[i]! })))
    this.#add('gatehouse_requests_total', 'Requests on configured routes, by outcome.', 'counter', () => OUTCOMES.map((outcome, i) => ({ labels: { outcome }, value: this.#outcomes[i]! })))
    this.#add('gatehouse_upstream_errors_total', 'Upstream failures answered with 502/504 (aborted: the client went away).', 'counter', () => UPSTREAM_ERRORS.map((kind, i) => ({ labels: { kind }, value: this.#upstreamErrors[i]! })))
    this.#add('gatehouse_reloads_total', 'Configuration reloads (SIGHUP or file watch), by result.', 'counter', () => RELOAD_RESULTS.map((result, i) => ({ labels: { result }, value: this.#reloads[i]! })))
    this.#add('gatehouse_backchannel_logouts_total', 'Accepted back-channel logout tokens.', 'counter', () => [{ labels: {}, value: this.#backchannelLogouts }])
    this.#add('gatehouse_websocket_upgrades_total', 'WebSocket upgrades, by result (upstream_refused: the upstream answered without 101, passed through).', 'counter', () => WEBSOCKET_RESULTS.map((result, i) => ({ labels: { result }, value: this.#websockets[i]! })))
    this.#add('gatehouse_websocket_open', 'WebSocket tunnels open now.', 'gauge', () => [{ labels: {}, value: this.websocketsOpen }])
  }

  #add (name: string, help: string, type: Kind, read: () => Sample[]): void {
    this.registry.registerMetric(new Collected(name, help, type, read) as never)
  }

  /** The series of a configured route, by its index. */
  route (index: number): RouteMetrics { return this.#routeList[index]! }
  /** The series of a route by its label, created (at zero) the first time: routes added by a reload. */
  routeNamed (label: string): RouteMetrics {
    let r = this.#routes.get(label)
    if (r === undefined) { r = new RouteMetrics(label); this.#routes.set(label, r) }
    return r
  }
  reload (result: ReloadResult): void { this.#reloads[RELOAD_RESULTS.indexOf(result)]!++ }
  /** The series of one of the gateway's own endpoints (or `none`). */
  endpoint (label: EndpointLabel): RouteMetrics { return this.#endpoints.get(label)! }

  outcome (o: Outcome): void { this.#outcomes[OUTCOME_SLOT[o]]!++ }
  decision (d: Decision): void { this.#decisions[DECISION_SLOT[d]]!++ }
  login (result: LoginResult): void { this.#logins[LOGIN_SLOT[result]]!++ }
  refresh (result: RefreshResult): void { this.#refreshes[REFRESH_SLOT[result]]!++ }
  upstreamError (kind: UpstreamErrorKind): void { this.#upstreamErrors[UPSTREAM_ERROR_SLOT[kind]]!++ }
  backchannelLogout (): void { this.#backchannelLogouts++ }
  websocket (result: WebSocketResult): void { this.#websockets[WEBSOCKET_RESULTS.indexOf(result)]!++ }

  /** A gauge read at scrape time. */
  gauge (name: string, help: string, read: () => number): void {
    this.#add(name, help, 'gauge', () => [{ labels: {}, value: read() }])
  }

  /** The Prometheus text of every metric. */
  async render (): Promise<string> { return this.registry.metrics() }

  /**
   * One series' current value by its text form, e.g.
   * `gatehouse_refreshes_total{result="shared"}` (0 when absent). For tests
   * and diagnostics; labels in the order they are rendered.
   */
  async get (series: string): Promise<number> {
    const text = await this.render()
    for (const line of text.split('\n')) {
      if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
    }
    return 0
  }
}
