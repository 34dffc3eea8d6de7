// Load generators: wrk when installed (lean C, its own process), otherwise
// autocannon (a devDependency). Both are closed-loop: N keep-alive
// connections, each sends the next request when the previous answer is in.
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const WRK_SCRIPT = fileURLToPath(new URL('../wrk-report.lua', import.meta.url))

/** The wrk binary's version line, or undefined when wrk is not installed. */
export function wrkVersion () {
  try {
    const out = execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return out.split('\n')[0].replace(/Copyright.*/, '').trim()
  } catch (e) {
    // wrk -v exits 1 after printing its version
    const text = String(e.stdout ?? '') + String(e.stderr ?? '')
    return /^wrk /.test(text) ? text.split('\n')[0].replace(/Copyright.*/, '').trim() : undefined
  }
}

/**
 * Parses the WRKJSON line printed by wrk-report.lua into the common result shape.
 * @param {string} out wrk's stdout
 */
export function parseWrkOutput (out) {
  const m = /WRKJSON (\{.*\})/.exec(out)
  if (m === null) throw new Error(`no WRKJSON line in wrk output: ${out.slice(0, 300)}`)
  const r = JSON.parse(m[1])
  return {
    requests: r.requests,
    seconds: r.duration_us / 1e6,
    bytes: r.bytes,
    non2xx: r.errors.status,
    socketErrors: r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout,
    p50ms: r.latency_us.p50 / 1000,
    p99ms: r.latency_us.p99 / 1000,
    p999ms: r.latency_us.p999 / 1000,
    maxms: r.latency_us.max / 1000,
  }
}

/**
 * Runs one bounded load against `url`.
 * @param {{ tool: 'wrk' | 'autocannon', url: string, headers: Record<string, string>, seconds: number, connections: number, threads: number }} o
 * @returns {Promise<ReturnType<typeof parseWrkOutput>>}
 */
export async function runLoad (o) {
  return o.tool === 'wrk' ? runWrk(o) : runAutocannon(o)
}

function runWrk (o) {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', '5s', '-s', WRK_SCRIPT]
  for (const [k, v] of Object.entries(o.headers)) args.push('-H', `${k}: ${v}`)
  args.push(o.url)
  return new Promise((resolve, reject) => {
    const [cmd, argv] = process.env.BENCH_PIN_LOAD ? ['taskset', ['-c', process.env.BENCH_PIN_LOAD, 'wrk', ...args]] : ['wrk', args]
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    // wrk stops by itself after -d; this is a guard against a hung run.
    const guard = setTimeout(() => { child.kill('SIGKILL') }, (o.seconds + 30) * 1000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(guard)
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out.slice(0, 300)}`))
      try { resolve(parseWrkOutput(out)) } catch (e) { reject(e) }
    })
  })
}

async function runAutocannon (o) {
  const { default: autocannon } = await import('autocannon')
  const r = await autocannon({ url: o.url, headers: o.headers, duration: o.seconds, connections: o.connections, timeout: 5 })
  return {
    requests: r.requests.total,
    seconds: r.duration,
    bytes: r.throughput.total,
    non2xx: r.non2xx,
    socketErrors: r.errors + r.timeouts,
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
    p999ms: r.latency.p99_9 ?? NaN,
    maxms: r.latency.max,
  }
}
