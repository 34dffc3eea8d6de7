/**
 * A few counters in Prometheus text format. Plain integers in a Map keyed by
 * the full series name, so counting on the hot path is one Map update.
 */
export class Metrics {
  readonly #counters = new Map<string, number>()
  readonly #help = new Map<string, string>()
  readonly #gauges = new Map<string, () => number>()

  constructor () {
    this.describe('gatehouse_requests_total', 'Requests handled on the proxy listener, by outcome.')
    this.describe('gatehouse_logins_total', 'Completed and failed logins.')
    this.describe('gatehouse_upstream_errors_total', 'Upstream failures answered with 502/504.')
    this.describe('gatehouse_refreshes_total', 'Token refreshes, by result (shared: another replica had refreshed).')
    this.describe('gatehouse_backchannel_logouts_total', 'Accepted back-channel logout tokens.')
  }

  describe (name: string, help: string): void { this.#help.set(name, help) }

  inc (series: string, by = 1): void {
    this.#counters.set(series, (this.#counters.get(series) ?? 0) + by)
  }

  get (series: string): number { return this.#counters.get(series) ?? 0 }

  gauge (name: string, help: string, read: () => number): void {
    this.#help.set(name, help)
    this.#gauges.set(name, read)
  }

  render (): string {
    const byName = new Map<string, string[]>()
    for (const [series, v] of this.#counters) {
      const name = series.split('{')[0]!
      let lines = byName.get(name)
      if (lines === undefined) { lines = []; byName.set(name, lines) }
      lines.push(`${series} ${v}`)
    }
    let out = ''
    for (const [name, help] of this.#help) {
      const lines = byName.get(name)
      const gauge = this.#gauges.get(name)
      if (lines === undefined && gauge === undefined) continue
      out += `# HELP ${name} ${help}\n# TYPE ${name} ${gauge !== undefined ? 'gauge' : 'counter'}\n`
      out += gauge !== undefined ? `${name} ${gauge()}\n` : lines!.join('\n') + '\n'
    }
    return out
  }
}
