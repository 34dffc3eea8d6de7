/**
 * Merges the Prometheus text of several workers: every sample gets a
 * `worker` label, samples are grouped under their metric's HELP/TYPE once.
 */
export function mergeMetrics (texts: ReadonlyMap<string, string>): string {
  const groups = new Map<string, { head: string[], samples: string[] }>()
  for (const [worker, text] of texts) {
    let current: { head: string[], samples: string[] } | undefined
    for (const line of text.split('\n')) {
      if (line === '') continue
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line)
      if (meta !== null) {
        let g = groups.get(meta[2]!)
        if (g === undefined) { g = { head: [], samples: [] }; groups.set(meta[2]!, g) }
        if (g.head.length < 2 && !g.head.some((h) => h.startsWith(`# ${meta[1]!} `))) g.head.push(line)
        current = g
        continue
      }
      if (line.startsWith('#') || current === undefined) continue
      const space = line.lastIndexOf(' ')
      const series = line.slice(0, space)
      const brace = series.indexOf('{')
      const labelled = brace === -1 ? `${series}{worker="${worker}"}` : `${series.slice(0, -1)},worker="${worker}"}`
      current.samples.push(`${labelled}${line.slice(space)}`)
    }
  }
  let out = ''
  for (const g of groups.values()) out += [...g.head, ...g.samples].join('\n') + '\n'
  return out
}
