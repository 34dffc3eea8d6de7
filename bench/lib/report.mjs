// Aggregation and Markdown output of benchmark runs. Pure functions: no I/O.

/** Median of a non-empty list of numbers (NaN for an empty one). */
export function median (xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return NaN
  return n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

/** Fixed-point number, or '-' for missing values. */
export function fmt (x, digits = 0) {
  if (x === undefined || x === null || Number.isNaN(x)) return '-'
  return digits === 0 ? Math.round(x).toLocaleString('en-US') : x.toFixed(digits)
}

/**
 * @typedef {object} RunResult
 * @property {string} key case key
 * @property {number} round
 * @property {number} rps
 * @property {number} p50ms
 * @property {number} p99ms
 * @property {number} cpuUs Gatehouse CPU µs per request (NaN for the direct case)
 * @property {number} cores Gatehouse cores busy during the run
 * @property {number} rssMb Gatehouse RSS after the run (MB)
 * @property {number} providerCalls requests the provider served during the run
 * @property {number} unexpected responses with another status than the case expects
 * @property {number} socketErrors
 * @property {number} otherPct machine CPU % used by processes outside the benchmark
 * @property {boolean} noisy
 */

/**
 * Medians per case over its runs, leaving out noisy runs when the case has
 * clean ones (the count of runs used says which).
 * @param {RunResult[]} results
 * @param {string[]} order case keys in table order
 */
export function aggregate (results, order) {
  const out = []
  for (const key of order) {
    const all = results.filter((r) => r.key === key)
    if (all.length === 0) continue
    const clean = all.filter((r) => !r.noisy)
    const used = clean.length > 0 ? clean : all
    const m = (f) => median(used.map(f))
    out.push({
      key,
      runs: `${clean.length}/${all.length}`,
      noisy: clean.length === 0,
      rps: m((r) => r.rps),
      rpsMin: Math.min(...used.map((r) => r.rps)),
      rpsMax: Math.max(...used.map((r) => r.rps)),
      p50ms: m((r) => r.p50ms),
      p99ms: m((r) => r.p99ms),
      p999ms: m((r) => r.p999ms),
      cpuUs: m((r) => r.cpuUs),
      cores: m((r) => r.cores),
      rssMb: m((r) => r.rssMb),
      providerCalls: all.reduce((a, r) => a + r.providerCalls, 0),
      unexpected: all.reduce((a, r) => a + r.unexpected + r.socketErrors, 0),
    })
  }
  return out
}

/**
 * The results table in Markdown.
 * @param {ReturnType<typeof aggregate>} rows
 * @param {Record<string, string>} labels case key -> label
 * @param {string} [directKey] the case the ratio is taken against
 */
export function resultsTable (rows, labels, directKey = 'direct') {
  const direct = rows.find((r) => r.key === directKey)
  const L = [
    '| case | req/s | min..max | ratio to direct | p50 ms | p99 ms | p99.9 ms | Gatehouse CPU µs/req | Gatehouse cores | RSS MB | provider calls | wrong status / errors | runs clean |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    const ratio = direct !== undefined && r.key !== directKey ? fmt(r.rps / direct.rps, 3) : r.key === directKey ? '1.000' : '-'
    L.push(`| ${labels[r.key] ?? r.key}${r.noisy ? ' (noisy)' : ''} | ${fmt(r.rps)} | ${fmt(r.rpsMin)}..${fmt(r.rpsMax)} | ${ratio} | ${fmt(r.p50ms, 2)} | ${fmt(r.p99ms, 2)} | ${fmt(r.p999ms, 2)} | ${fmt(r.cpuUs, 1)} | ${fmt(r.cores, 2)} | ${fmt(r.rssMb, 0)} | ${r.providerCalls} | ${r.unexpected} | ${r.runs} |`)
  }
  return L.join('\n')
}

/**
 * The per-run table (every round of every case) in Markdown.
 * @param {RunResult[]} results
 */
export function runsTable (results) {
  const L = ['| round | case | req/s | p50 ms | p99 ms | p99.9 ms | Gatehouse CPU µs/req | other CPU % |', '|---:|---|---:|---:|---:|---:|---:|---:|']
  for (const r of results) {
    L.push(`| ${r.round} | ${r.key} | ${fmt(r.rps)} | ${fmt(r.p50ms, 2)} | ${fmt(r.p99ms, 2)} | ${fmt(r.p999ms, 2)} | ${fmt(r.cpuUs, 1)} | ${fmt(r.otherPct, 0)}${r.noisy ? ' (noisy)' : ''} |`)
  }
  return L.join('\n')
}

export const HISTORY_HEADER = [
  '| date | commit | load | direct req/s | public µs/req | cookie µs/req | cookie req/s | cookie p99 ms | 401 µs/req | other cases (µs/req, req/s) | noisy runs |',
  '|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|',
].join('\n')

/**
 * One line of bench/results/history.md for a run.
 * @param {{ date: string, commit: string, tool: string, rows: ReturnType<typeof aggregate>, noisyRuns: number }} run
 */
export function historyLine ({ date, commit, tool, rows, noisyRuns }) {
  const by = Object.fromEntries(rows.map((r) => [r.key, r]))
  const main = new Set(['direct', 'public', 'cookie', 'unauth'])
  const others = rows.filter((r) => !main.has(r.key)).map((r) => `${r.key} ${fmt(r.cpuUs, 1)}, ${fmt(r.rps)}`).join('; ')
  return `| ${date} | ${commit} | ${tool} | ${fmt(by.direct?.rps)} | ${fmt(by.public?.cpuUs, 1)} | ${fmt(by.cookie?.cpuUs, 1)} | ${fmt(by.cookie?.rps)} | ${fmt(by.cookie?.p99ms, 2)} | ${fmt(by.unauth?.cpuUs, 1)} | ${others || '-'} | ${noisyRuns} |`
}

/**
 * Appends `line` to the history text, creating the header when the file is new.
 * @param {string | undefined} existing current file content
 * @param {string} line
 */
export function appendHistory (existing, line) {
  const base = existing === undefined || existing.trim() === ''
    ? `# Benchmark history\n\nOne line per \`npm run bench\` run (medians; see latest.md for the full table).\n\n${HISTORY_HEADER}\n`
    : existing.endsWith('\n') ? existing : existing + '\n'
  return base + line + '\n'
}

/**
 * The median over rounds of the difference a − b in CPU µs per request,
 * taken within each round (runs of one round are seconds apart and share the
 * machine's state, so the pairing cancels much of the drift between rounds).
 * @param {RunResult[]} results
 * @param {string} a case key
 * @param {string} b case key
 * @returns {{ median: number, min: number, max: number, n: number } | undefined}
 */
export function pairedDelta (results, a, b) {
  return paired(results, a, b, (x, y) => x - y)
}

/**
 * CPU per request of case `a` divided by case `b`'s, round by round (the
 * same rounds, clean runs only): median, min, max and how many rounds.
 */
export function pairedRatio (results, a, b) {
  return paired(results, a, b, (x, y) => x / y)
}

function paired (results, a, b, f) {
  const d = []
  for (const ra of results.filter((r) => r.key === a)) {
    const rb = results.find((r) => r.key === b && r.round === ra.round)
    if (rb !== undefined && !ra.noisy && !rb.noisy) d.push(f(ra.cpuUs, rb.cpuUs))
  }
  if (d.length === 0) return undefined
  return { median: median(d), min: Math.min(...d), max: Math.max(...d), n: d.length }
}
