#!/usr/bin/env node
// `npm run bench`: Gatehouse's own benchmark. Starts an upstream, the real
// oidc-provider and Gatehouse instances (the built CLI, each its own process),
// logs in for real, then loads every case on 127.0.0.1 in alternating rounds
// and writes bench/results/latest.md (+ one line in bench/results/history.md).
//
//   npm run bench                  the standard cases (under 5 minutes)
//   npm run bench -- --scale       scale curves: routes, cookie sizes, sessions in memory
//   npm run bench -- --engines     proxy engines compared (node:http, hijack + Pool.stream, reply-from, http-proxy)
//   npm run bench -- --profile     a --cpu-prof run of the authenticated case, summarised (BENCH_PROFILE=memory|redis: that store's case)
//
// Settings (environment): BENCH_DURATION (s, 4), BENCH_WARMUP (s, 2), BENCH_ROUNDS (5),
// BENCH_CONNECTIONS (64), BENCH_THREADS (2, wrk), BENCH_LOADGEN (wrk | autocannon; wrk when installed),
// BENCH_UPSTREAM (auto | node), BENCH_CASES (comma list), BENCH_QUIET_PCT (15), BENCH_QUIET_WAIT (s, 30),
// BENCH_PIN_GATEHOUSE / BENCH_PIN_LOAD (CPU lists for taskset: Gatehouse / wrk and nginx),
// BENCH_OUT (report path), BENCH_HISTORY (1; 0 = do not append), BENCH_NICE (-10 as root, else 0),
// BENCH_BASELINE (another build's dist/cli.js: its cookie and 401 cases run in the same rounds, paired with ours).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { hasProc } from './lib/proc.mjs'
import { wrkVersion } from './lib/load.mjs'
import { runRounds, CLK_TCK } from './lib/measure.mjs'
import { aggregate, appendHistory, fmt, historyLine, pairedDelta, pairedRatio, resultsTable, runsTable } from './lib/report.mjs'
import { Procs, ROOT, checkConfig, freePort, prioritise, sessionLeader, startGatehouse, startUpstream, dist, waitHttp } from './lib/stack.mjs'
import { startProvider, providerRequests, CLIENT_ID, CLIENT_SECRET, RESOURCE, USER } from './lib/idp.mjs'
import { login, request } from './lib/login.mjs'
import { runScale } from './lib/scale.mjs'
import { runEngines } from './lib/engines.mjs'
import { summariseProfile } from './lib/cpuprofile.mjs'

const E = process.env
const NICE = E.BENCH_NICE !== undefined && E.BENCH_NICE !== '' ? Number(E.BENCH_NICE) : process.getuid?.() === 0 ? -10 : 0
// A session of our own, so that the nice value can apply to our autogroup (see prioritise()).
const REEXEC = NICE !== 0 && !sessionLeader() && E.BENCH_SETSID !== 'done' && spawnSync('setsid', ['--version']).status === 0
if (REEXEC) {
  const child = spawn('setsid', [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...E, BENCH_SETSID: 'done' } })
  // setsid execs the benchmark in place (same PID): signals reach it directly.
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { child.kill(sig) })
  child.on('exit', (code) => { process.exit(code ?? 1) })
}
const num = (v, d) => (v === undefined || v === '' ? d : Number(v))
const argv = new Set(process.argv.slice(2))
const MODE = argv.has('--scale') || E.BENCH_SCALE === '1' ? 'scale' : argv.has('--engines') ? 'engines' : argv.has('--profile') ? 'profile' : 'standard'

const loadTool = E.BENCH_LOADGEN || (wrkVersion() !== undefined ? 'wrk' : 'autocannon')
const OPTS = {
  tool: loadTool,
  seconds: num(E.BENCH_DURATION, MODE === 'standard' ? 4 : 3),
  warmup: num(E.BENCH_WARMUP, 2),
  rounds: num(E.BENCH_ROUNDS, MODE === 'standard' ? 5 : 3),
  connections: num(E.BENCH_CONNECTIONS, 64),
  threads: num(E.BENCH_THREADS, 2),
  quietPct: num(E.BENCH_QUIET_PCT, 15),
  quietBudgetMs: num(E.BENCH_QUIET_WAIT, 30) * 1000,
}
export const SESSION_SECRET = 'bench-session-secret-0123456789abcdef-0123456789'

/** CPU-per-request ratios the report gives, round by round (the targets of docs/performance.md). */
const RATIOS = [['cookie', 'floor'], ['memory', 'cookie'], ['redis', 'cookie'], ['workers2', 'cookie'], ['bearer', 'cookie'], ['fwdauth', 'cookie'], ['cookie', 'baseline']]

const t00 = Date.now()
const log = (...a) => console.log(`[bench ${((Date.now() - t00) / 1000).toFixed(0).padStart(3)}s]`, ...a)

/**
 * Gatehouse YAML for one instance. Routes: /public (public), /__echo (the
 * header-echo upstream, for verification), with `bearer` /bearer (API clients'
 * JWT access tokens, acceptBearer), `extraRoutes` (a prefix, or `{ yaml }`: the
 * route's lines but its upstream), / (required).
 */
export function gatehouseYaml (i, ctx) {
  const routes = [
    `  - path: /public\n    upstream: ${ctx.upstream}\n    auth: public`,
    `  - path: /__echo\n    upstream: ${ctx.echo}`,
    ...(i.bearer === true ? [`  - path: /bearer\n    upstream: ${ctx.upstream}\n    acceptBearer: { audiences: [${RESOURCE}] }`] : []),
    ...(i.extraRoutes ?? []).map((p) => typeof p === 'string' ? `  - path: ${p}\n    upstream: ${ctx.upstream}` : `  - ${p.yaml}\n    upstream: ${ctx.upstream}`),
    `  - path: /\n    upstream: ${ctx.upstream}`,
  ]
  return `# generated by bench/run.mjs
listen: 127.0.0.1:${i.port}
publicUrl: http://127.0.0.1:${i.port}
admin:
  listen: 127.0.0.1:${i.adminPort}
${i.workers !== undefined ? `workers: ${i.workers}\n` : ''}providers:
  - id: bench
    issuer: ${ctx.issuer}
    clientId: ${CLIENT_ID}
    clientSecret: ${CLIENT_SECRET}
    scopes: [openid, email, profile, offline_access]
    # The access token is a JWT for an API (resource indicator), which the
    # provider's userinfo endpoint does not accept: the ID token has the claims.
    fetchUserinfo: false
session:
  secret: ${SESSION_SECRET}
  store: ${i.store ?? 'cookie'}
${i.storeYaml ?? ''}routes:
${routes.join('\n')}
`
}

/** Declares an instance: ports now (the provider must know every redirect URI before it starts). */
export async function instance (name, props = {}) {
  return { name, port: await freePort(), adminPort: await freePort(), ...props }
}

/** Writes each instance's config and runs `gatehouse check` on it; sets `skip` with the reason when refused. */
export function prepare (instances, ctx, tmp) {
  for (const i of instances) {
    i.file = path.join(tmp, `${i.name}.yaml`)
    writeFileSync(i.file, gatehouseYaml(i, ctx))
    if (i.skip === undefined) {
      const problem = checkConfig(i.file)
      if (problem !== undefined) i.skip = `config refused: ${problem}`
    }
  }
}

/** Splits a Cookie header into a map, for reading the session back with the gateway's own code. */
function cookieMap (header) {
  return new Map(header.split('; ').map((kv) => { const e = kv.indexOf('='); return [kv.slice(0, e), kv.slice(e + 1)] }))
}

/**
 * Checks that authentication really works on an instance before loading it:
 * 302 to the provider, a real login, 200 with the cookie, Bearer and identity
 * upstream, a tampered cookie refused. Returns facts for the report.
 */
async function verify (inst, ctx) {
  const base = `http://127.0.0.1:${inst.port}`
  const facts = { checks: [] }
  const check = (name, ok, detail = '') => { facts.checks.push({ name, ok, detail }); if (!ok) throw new Error(`${inst.name}: ${name} failed ${detail}`) }
  const anon = await request(`${base}/`, { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } })
  check('no cookie -> 302 to the provider', anon.status === 302 && String(anon.headers.location).startsWith(`${ctx.issuer}/auth`), `HTTP ${anon.status}`)
  const { cookie, hops } = await login(`${base}/`, USER)
  const ok = await request(`${base}/`, { headers: { cookie } })
  check('cookie -> 200 from the upstream', ok.status === 200 && ok.text === 'upstream-ok\n', `HTTP ${ok.status}`)
  const echo = JSON.parse((await request(`${base}/__echo`, { headers: { cookie, accept: 'application/json' } })).text)
  check('upstream sees Authorization: Bearer', /^Bearer .{20,}/.test(echo.headers.authorization ?? ''))
  check(`upstream sees x-forwarded-user: ${USER}`, echo.headers['x-forwarded-user'] === USER)
  const v = cookie.split('; ').sort((a, b) => b.length - a.length)[0]
  const mid = Math.floor(v.length / 2)
  const tampered = cookie.replace(v, v.slice(0, mid) + (v[mid] === 'A' ? 'B' : 'A') + v.slice(mid + 1))
  const bad = await request(`${base}/`, { headers: { cookie: tampered, accept: 'text/html', 'sec-fetch-mode': 'navigate' } })
  check('tampered cookie refused', bad.status !== 200, `HTTP ${bad.status}`)
  if (inst.bearer === true) {
    const jwt = echo.headers.authorization.slice(7)
    const api = await request(`${base}/bearer/item`, { headers: { authorization: `Bearer ${jwt}`, accept: 'application/json' } })
    check('Bearer JWT access token -> 200 from the upstream', api.status === 200 && api.text === 'upstream-ok\n', `HTTP ${api.status}`)
    const forged = jwt.slice(0, -4) + (jwt.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const refused = await request(`${base}/bearer/item`, { headers: { authorization: `Bearer ${forged}`, accept: 'application/json' } })
    check('Bearer JWT with a bad signature -> 401', refused.status === 401, `HTTP ${refused.status}`)
  }
  facts.hops = hops
  facts.cookieBytes = Buffer.byteLength(cookie)
  facts.cookieNames = [...cookieMap(cookie).keys()]
  if (inst.store === undefined || inst.store === 'cookie') {
    // Read the session with the gateway's own code to report what it carries.
    const { parseConfig } = await dist('config/load.js')
    const { SessionManager } = await dist('session/manager.js')
    const { CookieStore } = await dist('session/store.js')
    const config = parseConfig(readFileSync(inst.file, 'utf8'), { env: {} })
    const sm = new SessionManager(config.session, false, new CookieStore(), () => '')
    const { session } = await sm.read(cookieMap(cookie), Date.now())
    facts.idTokenBytes = session?.idToken?.length
    facts.accessTokenBytes = session?.accessToken?.length
    facts.refreshToken = session?.refreshToken !== undefined
  }
  return facts
}

function gitCommit () {
  try {
    const h = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== ''
    return h + (dirty ? '+dirty' : '')
  } catch { return 'unknown' }
}

function machine () {
  let osName = os.type()
  try { osName = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))[1] } catch { /* not Linux */ }
  return `${os.cpus()[0]?.model ?? 'cpu'} x ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${osName}, Node ${process.version}`
}

function loadDescription (o) {
  return `${o.tool === 'wrk' ? `wrk (${o.threads} threads)` : 'autocannon'}, ${o.connections} keep-alive connections, ${o.seconds} s per run, ${o.rounds} rounds alternating the cases (${o.warmup} s unrecorded warm-up first), all on 127.0.0.1; benchmark processes at ${o.priority}`
}

async function standard (ctx) {
  const main = await instance('gatehouse', { bearer: true })
  const memory = await instance('gatehouse-memory', { store: 'memory' })
  const redisPort = await freePort()
  const redis = await instance('gatehouse-redis', { store: 'redis', storeYaml: `  redis:\n    url: redis://127.0.0.1:${redisPort}\n` })
  const workers2 = await instance('gatehouse-2-workers', { workers: 2 })
  const instances = [main, memory, redis, workers2]
  if (ctx.redisBinary === undefined) redis.skip = 'redis-server is not installed'
  // BENCH_BASELINE=<another build's dist/cli.js>: the same cookie-store instance from that build, in the same rounds.
  const baseline = E.BENCH_BASELINE ? await instance('gatehouse-baseline', { cli: path.resolve(E.BENCH_BASELINE) }) : undefined
  if (baseline !== undefined) instances.push(baseline)
  return { instances, redisPort, main, memory, redis, workers2, baseline }
}

async function main () {
  if (!hasProc()) throw new Error('the benchmark reads CPU time from /proc (Linux only)')
  if (!existsSync(path.join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/ is missing: run npm run build')
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-'))
  const procs = new Procs(tmp)
  let idp, echo
  const stop = async () => {
    await procs.stopAll()
    await echo?.close()
    await idp?.close()
  }
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { log(`${sig}: stopping`); stop().finally(() => process.exit(130)) })
  try {
    OPTS.priority = prioritise(NICE)
    log(`priority: ${OPTS.priority}`)
    log(`mode ${MODE}; load: ${OPTS.tool}${OPTS.tool === 'wrk' ? ` (${wrkVersion()}), ${OPTS.threads} threads` : ''}, ${OPTS.connections} connections, ${OPTS.seconds} s x ${OPTS.rounds} rounds; logs in ${tmp}`)
    const upstream = await startUpstream(procs, await freePort(), E.BENCH_UPSTREAM)
    log(`upstream: ${upstream.what}`)
    const { startEchoUpstream } = await dist('demo/upstream.js')
    echo = await startEchoUpstream()
    const ctx = { upstream: upstream.url, echo: echo.url, issuer: '', redisBinary: undefined }
    try { ctx.redisBinary = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined } catch { /* not installed */ }

    const plan = MODE === 'scale' ? await runScale.plan({ instance }) : MODE === 'engines' ? { instances: [await instance('gatehouse')] } : await standard(ctx)
    plan.main ??= plan.instances[0]
    idp = await startProvider(plan.instances.map((i) => `http://127.0.0.1:${i.port}/.gatehouse/callback`))
    ctx.issuer = idp.issuer
    prepare(plan.instances, ctx, tmp)
    for (const i of plan.instances.filter((x) => x.skip !== undefined)) log(`${i.name}: skipped (${i.skip})`)

    if (plan.redis !== undefined && plan.redis.skip === undefined) {
      plan.redisProc = procs.start('redis', ctx.redisBinary, ['--port', String(plan.redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
    }
    const env = { idp, upstreamPid: upstream.proc.pid }
    if (MODE === 'scale' || MODE === 'engines') {
      let md
      if (MODE === 'scale') md = await runScale.run({ plan, ctx, procs, opts: OPTS, env, log, startGatehouse, verify })
      else {
        plan.main.proc = await startGatehouse(procs, plan.main)
        md = await runEngines({ procs, opts: OPTS, env, log, upstream: upstream.url, gatehouse: plan.main })
      }
      const head = `# Gatehouse benchmark, ${MODE}\n\n${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${gitCommit()}, ${machine()}.\n` +
        `Load: ${loadDescription(OPTS)}. Upstream: ${upstream.what}. Medians over the rounds.\n\n`
      console.log('\n' + head + md)
      const out = path.join(ROOT, 'bench', 'results', `${MODE}.md`)
      writeFileSync(out, head + md + '\n')
      log(`report written to ${path.relative(process.cwd(), out)} (not committed; docs/performance.md keeps the numbers)`)
      return 0
    }
    const nodeArgs = MODE === 'profile' ? ['--cpu-prof', `--cpu-prof-dir=${path.join(tmp, 'profile')}`] : []
    // --profile: the instance of BENCH_PROFILE's case (cookie, memory or redis; cookie by default).
    const profileCase = E.BENCH_PROFILE || 'cookie'
    const profiled = profileCase === 'memory' ? plan.memory : profileCase === 'redis' ? plan.redis : plan.main
    for (const i of plan.instances) {
      if (i.skip !== undefined) continue
      if (MODE === 'profile' && i !== profiled && i !== plan.main) continue
      i.proc = await startGatehouse(procs, i, i === profiled ? nodeArgs : [])
      i.facts = await verify(i, ctx)
      log(`${i.name}: pid ${i.proc.pid}; verified (login ${i.facts.hops} hops, Cookie ${i.facts.cookieBytes} bytes${i.facts.idTokenBytes !== undefined ? `; ID token ${i.facts.idTokenBytes} B, access token ${i.facts.accessTokenBytes} B, refresh token ${i.facts.refreshToken ? 'yes' : 'no'}` : ''})`)
    }
    // The floor: the same forwarding engine with nothing else (what Gatehouse's own work is measured against).
    const floor = { port: await freePort() }
    floor.proc = procs.start('floor', process.execPath, [path.join(ROOT, 'bench', 'engine-variant.mjs'), 'node-dispatch', String(floor.port), upstream.url], { env: { NODE_ENV: 'production' } })
    await waitHttp(`http://127.0.0.1:${floor.port}/`, { proc: floor.proc, status: 200 })
    const fresh = (i) => async () => ({ cookie: (await login(`http://127.0.0.1:${i.port}/`, USER)).cookie })
    // An API client's JWT access token: the one a fresh login got from the provider (as the upstream sees it).
    const bearerJwt = (i) => async () => {
      const { cookie } = await login(`http://127.0.0.1:${i.port}/`, USER)
      const echoed = JSON.parse((await request(`http://127.0.0.1:${i.port}/__echo`, { headers: { cookie, accept: 'application/json' } })).text)
      return { authorization: echoed.headers.authorization, accept: 'application/json' }
    }
    const url = (i, p) => `http://127.0.0.1:${i.port}${p}`
    const m = plan.main
    /** @type {import('./lib/measure.mjs').Case[]} */
    const all = [
      { key: 'direct', label: 'direct to the upstream (the limit)', url: `${upstream.url}/`, expect: 200, headers: async () => ({}), pid: undefined },
      { key: 'floor', label: 'floor: bare node:http + undici dispatch, no auth (bench/engine-variant.mjs node-dispatch)', url: `http://127.0.0.1:${floor.port}/`, expect: 200, headers: async () => ({}), pid: floor.proc.pid },
      { key: 'public', label: 'Gatehouse, public route (proxy cost alone)', inst: m, url: url(m, '/public/item'), expect: 200, headers: async () => ({}) },
      { key: 'public-cookie', label: 'Gatehouse, public route, request carrying the session cookie', inst: m, url: url(m, '/public/item'), expect: 200, headers: fresh(m) },
      { key: 'cookie', label: 'Gatehouse, authenticated, cookie store', inst: m, url: url(m, '/'), expect: 200, headers: fresh(m) },
      // A proxy in front asking about a request (Traefik's headers); the answer is 200 with the identity headers, nothing is proxied.
      {
        key: 'fwdauth',
        label: 'Gatehouse, forward-auth check (/.gatehouse/auth, X-Forwarded-*, cookie store, 200)',
        inst: m,
        url: url(m, '/.gatehouse/auth'),
        expect: 200,
        headers: async () => ({ ...await fresh(m)(), 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': `127.0.0.1:${m.port}`, 'x-forwarded-uri': '/' }),
      },
      { key: 'memory', label: 'Gatehouse, authenticated, memory store', inst: plan.memory, url: url(plan.memory, '/'), expect: 200, headers: fresh(plan.memory) },
      { key: 'redis', label: 'Gatehouse, authenticated, redis store', inst: plan.redis, url: url(plan.redis, '/'), expect: 200, headers: fresh(plan.redis) },
      { key: 'bearer', label: 'Gatehouse, API client with a Bearer JWT (acceptBearer)', inst: m, url: url(m, '/bearer/item'), expect: 200, headers: bearerJwt(m) },
      { key: 'unauth', label: 'Gatehouse, unauthenticated API request (401)', inst: m, url: url(m, '/api/items'), expect: 401, headers: async () => ({ accept: 'application/json' }) },
      { key: 'workers2', label: 'Gatehouse, authenticated, cookie store, 2 workers', inst: plan.workers2, url: url(plan.workers2, '/'), expect: 200, headers: fresh(plan.workers2) },
      ...(plan.baseline === undefined ? [] : [
        { key: 'baseline', label: `baseline build (${E.BENCH_BASELINE}), authenticated, cookie store`, inst: plan.baseline, url: url(plan.baseline, '/'), expect: 200, headers: fresh(plan.baseline) },
        { key: 'baseline-unauth', label: `baseline build (${E.BENCH_BASELINE}), unauthenticated API request (401)`, inst: plan.baseline, url: url(plan.baseline, '/api/items'), expect: 401, headers: async () => ({ accept: 'application/json' }) },
      ]),
    ]
    const only = E.BENCH_CASES ? new Set(E.BENCH_CASES.split(',')) : MODE === 'profile' ? new Set([profileCase]) : undefined
    const skipped = []
    const cases = []
    for (const c of all) {
      if (only !== undefined && !only.has(c.key)) continue
      if (c.inst?.skip !== undefined) { skipped.push([c, c.inst.skip]); log(`case ${c.key}: skipped (${c.inst.skip})`); continue }
      if (c.inst !== undefined && c.inst.proc === undefined) continue
      if (c.inst !== undefined) c.pid = c.inst.proc.pid
      cases.push(c)
    }
    const provBefore = providerRequests(idp)
    const results = await runRounds(cases, OPTS, env, log)
    log(`provider requests during the whole load phase, logins included: ${providerRequests(idp) - provBefore}`)
    if (MODE === 'profile') {
      await procs.stop(profiled.proc, 30_000)
      // Only the samples taken during the load runs (not start-up, not the logins).
      const windows = results.map((r) => r.window)
      console.log(summariseProfile(path.join(tmp, 'profile'), { from: Math.min(...windows.map((w) => w.from)), to: Math.max(...windows.map((w) => w.to)) }))
      return 0
    }
    const rows = aggregate(results, cases.map((c) => c.key))
    const labels = Object.fromEntries(all.map((c) => [c.key, c.label]))
    const date = new Date().toISOString().slice(0, 16).replace('T', ' ')
    const commit = gitCommit()
    const noisyRuns = results.filter((r) => r.noisy).length
    const facts = m.facts
    const md = [
      '# Gatehouse benchmark: latest run',
      '',
      `${date} UTC, commit ${commit}, ${machine()}.`,
      `Load: ${loadDescription(OPTS)} (${cases.map((c) => c.key).join(' ')}). ` +
        `Upstream: ${upstream.what}. Values are medians over the rounds (noisy runs left out where clean ones exist).`,
      '',
      resultsTable(rows, labels),
      '',
      ...[['cookie', 'public'], ['cookie', 'public-cookie'], ['bearer', 'cookie'], ['public-cookie', 'public'], ['cookie', 'baseline'], ['unauth', 'baseline-unauth']].map(([a, b]) => {
        const d = pairedDelta(results, a, b)
        return d === undefined ? undefined : `- ${a} − ${b}: ${fmt(d.median, 1)} µs CPU per request (median of ${d.n} rounds, each round's difference ${fmt(d.min, 1)}..${fmt(d.max, 1)})`
      }).filter((x) => x !== undefined),
      ...RATIOS.map(([a, b]) => {
        const d = pairedRatio(results, a, b)
        return d === undefined ? undefined : `- ${a} ÷ ${b}: ${fmt(d.median, 2)} × the CPU per request (median of ${d.n} rounds, ${fmt(d.min, 2)}..${fmt(d.max, 2)})`
      }).filter((x) => x !== undefined),
      ...skipped.map(([c, why]) => `- not run: ${c.label} — ${why}`),
      skipped.length > 0 ? '' : undefined,
      `Session of the authenticated cases: a real login at the development provider; ID token ${facts?.idTokenBytes ?? '?'} bytes, ` +
        `JWT access token ${facts?.accessTokenBytes ?? '?'} bytes, refresh token ${facts?.refreshToken ? 'present' : 'absent'}; ` +
        `Cookie header ${facts?.cookieBytes ?? '?'} bytes (${facts?.cookieNames?.join(', ') ?? '?'}). A fresh login before every run.`,
      `Gatehouse CPU = utime + stime of its process tree (all threads; the primary and workers with \`workers: 2\`) from /proc (CLK_TCK ${CLK_TCK}), divided by the requests of the run. ` +
        `"provider calls" = requests the provider served during the load runs (logins happen before each run and are not counted). ` +
        `${noisyRuns} of ${results.length} runs were noisy (other processes used more than ${OPTS.quietPct}% of the machine).`,
      '',
      '## Every run',
      '',
      runsTable(results),
      '',
      'Reproduce: `npm run bench` (see docs/performance.md).',
      '',
    ].filter((l) => l !== undefined).join('\n')
    console.log('\n' + md)
    const out = E.BENCH_OUT ? path.resolve(E.BENCH_OUT) : path.join(ROOT, 'bench', 'results', 'latest.md')
    writeFileSync(out, md)
    log(`report written to ${path.relative(process.cwd(), out)}`)
    if (E.BENCH_HISTORY !== '0' && only === undefined) {
      const hist = path.join(ROOT, 'bench', 'results', 'history.md')
      writeFileSync(hist, appendHistory(existsSync(hist) ? readFileSync(hist, 'utf8') : undefined, historyLine({ date, commit, tool: `${OPTS.tool} ${OPTS.connections}c ${OPTS.seconds}s x${OPTS.rounds}`, rows, noisyRuns })))
      log(`history line appended to ${path.relative(process.cwd(), hist)}`)
    }
    return results.some((r) => r.unexpected + r.socketErrors > 0) ? 1 : 0
  } finally {
    await stop()
    if (E.BENCH_KEEP !== '1') rmSync(tmp, { recursive: true, force: true })
  }
}

if (!REEXEC) main().then((rc) => { log(`done in ${((Date.now() - t00) / 1000).toFixed(0)} s`); process.exit(rc) }, (err) => {
  console.error(`[bench] ${err.stack ?? err}`)
  process.exit(1)
})
