// Processes of a benchmark run: the upstream, Gatehouse instances (each its own
// process, so its CPU is measured apart from the load generator and the
// upstream), and the in-process development provider. Everything listens on
// 127.0.0.1; every child is tracked by PID and stopped by PID.
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs'
import { setPriority } from 'node:os'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { request } from './login.mjs'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const CLI = path.join(ROOT, 'dist', 'cli.js')

/** Imports a module of the built gateway (dist/). */
export async function dist (rel) {
  return import(pathToFileURL(path.join(ROOT, 'dist', rel)).href)
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A free TCP port on 127.0.0.1. */
export function freePort () {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function onPath (cmd) {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true } catch { return false }
}

/**
 * Scheduling priority for the benchmark on a shared machine. With
 * kernel.sched_autogroup_enabled (the default on desktop and many server
 * kernels) the scheduler first splits CPU between sessions' autogroups, and
 * a nice value counts only inside its group; so the benchmark runs in a
 * session of its own (re-started under setsid) and gives its autogroup the
 * nice value. Children inherit the group. It changes nothing on a quiet
 * machine and keeps other workloads from stealing much time during a run.
 * Returns what was done, for the report.
 */
export function prioritise (nice) {
  if (!nice) return 'not changed'
  let enabled = false
  try { enabled = readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1' } catch { /* not Linux */ }
  try { setPriority(0, nice) } catch (e) { return `not changed (${e.code ?? e.message})` }
  if (!enabled) return `nice ${nice}`
  const st = readFileSync('/proc/self/stat', 'utf8')
  const sid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[3])
  if (sid !== process.pid) return `nice ${nice} (autogroup not changed: not a session leader)`
  try { writeFileSync('/proc/self/autogroup', String(nice)); return `nice ${nice}, own autogroup at nice ${nice}` } catch (e) { return `nice ${nice} (autogroup: ${e.code ?? e.message})` }
}

/** Whether this process leads its session (so its autogroup is its own). */
export function sessionLeader () {
  try {
    const st = readFileSync('/proc/self/stat', 'utf8')
    return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[3]) === process.pid
  } catch { return true }
}

export class Procs {
  /** @type {{ name: string, pid: number, child: import('node:child_process').ChildProcess, exited: boolean }[]} */
  list = []

  constructor (dir) {
    this.dir = dir
    mkdirSync(dir, { recursive: true })
  }

  /** Starts a child with stdout/stderr to `<dir>/<name>.log`. */
  start (name, cmd, args, opts = {}) {
    const log = openSync(path.join(this.dir, `${name}.log`), 'a')
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', log, log] })
    closeSync(log)
    const p = { name, pid: child.pid, child, exited: false }
    child.on('exit', () => { p.exited = true })
    this.list.push(p)
    return p
  }

  /** Stops one child by PID: SIGTERM, then SIGKILL after `graceMs`. */
  async stop (p, graceMs = 5000) {
    if (p.exited) return
    try { process.kill(p.pid, 'SIGTERM') } catch { return }
    for (let waited = 0; !p.exited && waited < graceMs; waited += 50) await sleep(50)
    if (!p.exited) { try { process.kill(p.pid, 'SIGKILL') } catch { /* gone */ } }
    for (let waited = 0; !p.exited && waited < 2000; waited += 50) await sleep(50)
  }

  async stopAll () {
    for (const p of [...this.list].reverse()) await this.stop(p)
  }
}

/** Waits until `url` answers `status` (any status when omitted). */
export async function waitHttp (url, { timeoutMs = 30_000, status, proc } = {}) {
  const t0 = Date.now()
  let last = 'no answer'
  while (Date.now() - t0 < timeoutMs) {
    if (proc?.exited) throw new Error(`${proc.name} exited before ${url} answered (see its log)`)
    try {
      const r = await request(url)
      if (status === undefined || r.status === status) return r
      last = `HTTP ${r.status}`
    } catch (e) { last = e.message }
    await sleep(100)
  }
  throw new Error(`${url}: ${last} after ${timeoutMs} ms`)
}

/**
 * Starts the upstream: nginx `return 200` (1 worker) when nginx is installed,
 * else bench/upstream.mjs (node:http). Both answer 200 "upstream-ok\n".
 */
export async function startUpstream (procs, port, want = 'auto') {
  if (want !== 'node' && onPath('nginx')) {
    const prefix = path.join(procs.dir, 'nginx')
    mkdirSync(prefix, { recursive: true })
    const conf = path.join(prefix, 'nginx.conf')
    writeFileSync(conf, `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 65;
  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 "upstream-ok\\n"; }
  }
}
`)
    const pin = process.env.BENCH_PIN_LOAD
    const p = pin
      ? procs.start('upstream', 'taskset', ['-c', pin, 'nginx', '-c', conf, '-p', prefix + '/', '-g', 'daemon off;'])
      : procs.start('upstream', 'nginx', ['-c', conf, '-p', prefix + '/', '-g', 'daemon off;'])
    await waitHttp(`http://127.0.0.1:${port}/`, { proc: p, status: 200 })
    const version = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim()
    return { proc: p, url: `http://127.0.0.1:${port}`, what: `nginx \`return 200\`, 1 worker (${version})` }
  }
  const p = procs.start('upstream', process.execPath, [path.join(ROOT, 'bench', 'upstream.mjs'), String(port)])
  await waitHttp(`http://127.0.0.1:${port}/`, { proc: p, status: 200 })
  return { proc: p, url: `http://127.0.0.1:${port}`, what: `node:http server (bench/upstream.mjs, ${process.version})` }
}

/**
 * Runs `gatehouse check` on a config: undefined when it passes, else the
 * problems it prints (how a bench case learns that a feature is not there).
 */
export function checkConfig (file) {
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8', cwd: ROOT })
  if (r.status === 0) return undefined
  return (r.stderr || r.stdout).trim().split('\n').slice(1).map((s) => s.trim()).join('; ') || `exit ${r.status}`
}

/**
 * Starts Gatehouse from the CLI (dist/cli.js) and waits for its admin
 * /readyz (provider discovery done, so logins work).
 */
export async function startGatehouse (procs, inst, nodeArgs = []) {
  const pin = process.env.BENCH_PIN_GATEHOUSE
  const cli = inst.cli ?? CLI
  const p = pin
    ? procs.start(inst.name, 'taskset', ['-c', pin, process.execPath, ...nodeArgs, cli, '--config', inst.file], { env: { NODE_ENV: 'production' } })
    : procs.start(inst.name, process.execPath, [...nodeArgs, cli, '--config', inst.file], { env: { NODE_ENV: 'production' } })
  await waitHttp(`http://127.0.0.1:${inst.adminPort}/readyz`, { proc: p, status: 200, timeoutMs: 60_000 })
  return p
}
