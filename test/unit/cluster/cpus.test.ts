import t from 'tap'
import { cpuQuota, usableCpus } from '../../../src/cluster/cpus.js'

/** A /sys/fs/cgroup with these files (any other path: ENOENT, as on a machine without it). */
function fs (files: Record<string, string>): (p: string) => string {
  return (p) => {
    const v = files[p]
    if (v === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' })
    return v
  }
}
const V2 = '/sys/fs/cgroup/cpu.max'
const Q1 = '/sys/fs/cgroup/cpu/cpu.cfs_quota_us'
const P1 = '/sys/fs/cgroup/cpu/cpu.cfs_period_us'

t.test('workers: auto counts a container\'s CPU limit, not the node\'s CPUs', async (t) => {
  const cases: [string, Record<string, string>, number, number][] = [
    ['no cgroup files: every CPU', {}, 8, 8],
    ['cgroup v2 without a limit', { [V2]: 'max 100000\n' }, 8, 8],
    ['cgroup v2, 2 CPUs on a 64-CPU node', { [V2]: '200000 100000\n' }, 64, 2],
    ['cgroup v2, 1.5 CPUs: rounded down', { [V2]: '150000 100000\n' }, 64, 1],
    ['cgroup v2, half a CPU: still 1', { [V2]: '50000 100000\n' }, 64, 1],
    ['cgroup v2, a limit above the CPUs the process may use', { [V2]: '1600000 100000\n' }, 4, 4],
    ['cgroup v2, another period', { [V2]: '300000 50000' }, 16, 6],
    ['cgroup v1 without a limit (-1)', { [Q1]: '-1\n', [P1]: '100000\n' }, 8, 8],
    ['cgroup v1, 3 CPUs', { [Q1]: '300000\n', [P1]: '100000\n' }, 8, 3],
    ['cgroup v2 wins over v1', { [V2]: '100000 100000', [Q1]: '400000', [P1]: '100000' }, 8, 1],
    ['garbage in cpu.max: no limit known', { [V2]: 'lots of CPUs' }, 8, 8],
    ['a zero period: no limit known', { [V2]: '100000 0' }, 8, 8],
    ['v1 quota without a period file', { [Q1]: '200000' }, 8, 8],
  ]
  for (const [name, files, cpus, want] of cases) t.equal(usableCpus(fs(files), cpus), want, name)
  t.equal(cpuQuota(fs({ [V2]: '250000 100000' })), 2.5)
  t.equal(cpuQuota(fs({})), undefined)
  t.ok(usableCpus() >= 1, 'this machine: at least one')
})
