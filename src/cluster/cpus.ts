import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/**
 * `workers: auto`: the CPUs this process may really use. Node's
 * availableParallelism() counts the CPUs the process may run on (its
 * affinity), not a container's CPU limit: in a pod limited to 2 CPUs on a
 * 64-core node it says 64, and 64 workers would share 2 CPUs' worth of
 * time, each throttled. The CFS quota (cgroup v2 `cpu.max`, or v1
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us`) bounds it, rounded down (1.5
 * CPUs: 1 worker that gets a whole CPU, rather than 2 that are throttled),
 * and never below 1.
 */
export function usableCpus (read: (path: string) => string = (p) => readFileSync(p, 'utf8'), parallelism: number = availableParallelism()): number {
  const quota = cpuQuota(read)
  return Math.max(1, quota === undefined ? parallelism : Math.min(parallelism, Math.floor(quota)))
}

/** The CFS quota in CPUs, or undefined when there is none or it cannot be read. */
export function cpuQuota (read: (path: string) => string): number | undefined {
  const ratio = (q: number, p: number): number | undefined => Number.isFinite(q) && Number.isFinite(p) && q > 0 && p > 0 ? q / p : undefined
  try {
    const [q, p] = read('/sys/fs/cgroup/cpu.max').trim().split(/\s+/)
    return q === 'max' ? undefined : ratio(Number(q), Number(p))
  } catch { /* not cgroup v2 */ }
  try {
    return ratio(Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').trim()), Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us').trim()))
  } catch { /* no cgroup CPU controller: no limit known */ }
  return undefined
}
