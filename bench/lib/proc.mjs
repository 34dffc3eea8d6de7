// CPU and memory accounting from /proc (Linux). Pure parsing functions are
// separate from the file reads so they can be tested with fixed text.
import { readFileSync, readdirSync } from 'node:fs'

/**
 * Parses one /proc/<pid>/stat line. The command name (field 2) may contain
 * spaces and parentheses, so fields are counted from the last ')'.
 * utime and stime cover every thread of the process (event loop, libuv pool,
 * GC helpers); cutime/cstime cover waited-for children.
 * @param {string} text
 * @returns {{ pid: number, state: string, ppid: number, utime: number, stime: number, cutime: number, cstime: number }}
 */
export function parseStat (text) {
  const close = text.lastIndexOf(')')
  if (close === -1) throw new Error('not a /proc/<pid>/stat line')
  const pid = Number(text.slice(0, text.indexOf(' ')))
  const f = text.slice(close + 2).trim().split(' ')
  // f[0] = field 3 (state), f[1] = 4 (ppid), f[11] = 14 (utime), f[12] = 15 (stime), f[13] = 16 (cutime), f[14] = 17 (cstime)
  return { pid, state: f[0], ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) }
}

/**
 * The aggregate "cpu" line of /proc/stat: total and idle ticks of the machine.
 * @param {string} text
 */
export function parseMachineStat (text) {
  const first = text.slice(0, text.indexOf('\n')).trim().split(/\s+/)
  if (first[0] !== 'cpu') throw new Error('not /proc/stat')
  const v = first.slice(1, 9).map(Number)
  return { total: v.reduce((a, b) => a + b, 0), idle: v[3] + v[4] }
}

/**
 * Resident set size in bytes from /proc/<pid>/status text (VmRSS, in kB).
 * @param {string} text
 */
export function parseRss (text) {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
  return m === null ? 0 : Number(m[1]) * 1024
}

/** Every live process: pid -> parsed stat. */
export function processTable () {
  const table = new Map()
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue
    try { table.set(Number(d), parseStat(readFileSync(`/proc/${d}/stat`, 'utf8'))) } catch { /* exited meanwhile */ }
  }
  return table
}

/**
 * `root` and all its live descendants (e.g. a cluster primary and its workers).
 * @param {number} root
 * @param {Map<number, {ppid: number}>} table
 */
export function descendants (root, table) {
  const out = table.has(root) ? [root] : []
  for (let i = 0; i < out.length; i++) for (const [pid, p] of table) if (p.ppid === out[i]) out.push(pid)
  return out
}

/**
 * CPU ticks of a process tree: own time of every member. Children that have
 * exited and were reaped show up in their parent's cutime/cstime, so those
 * count too (a worker replaced during a run is not lost).
 * @param {number} root
 * @param {Map<number, ReturnType<typeof parseStat>>} table
 */
export function treeTicks (root, table) {
  let t = 0
  for (const pid of descendants(root, table)) {
    const p = table.get(pid)
    t += p.utime + p.stime + p.cutime + p.cstime
  }
  return t
}

/** RSS in bytes of a process tree (sum over its members). */
export function treeRss (root, table = processTable()) {
  let bytes = 0
  for (const pid of descendants(root, table)) {
    try { bytes += parseRss(readFileSync(`/proc/${pid}/status`, 'utf8')) } catch { /* exited */ }
  }
  return bytes
}

export function machineTicks () {
  return parseMachineStat(readFileSync('/proc/stat', 'utf8'))
}

/** Ticks of this process's waited-for children (e.g. a wrk run that has exited). */
export function reapedChildTicks () {
  const s = parseStat(readFileSync('/proc/self/stat', 'utf8'))
  return s.cutime + s.cstime
}

/**
 * CPU µs per request from tick counts.
 * @param {number} ticks CPU ticks used during the run
 * @param {number} hz clock ticks per second (getconf CLK_TCK, 100 on Linux)
 * @param {number} requests requests completed in the run
 */
export function usPerRequest (ticks, hz, requests) {
  return requests > 0 ? (ticks / hz) * 1e6 / requests : NaN
}

/** Whether /proc accounting is available (Linux). */
export function hasProc () {
  try { readFileSync('/proc/self/stat', 'utf8'); return true } catch { return false }
}
