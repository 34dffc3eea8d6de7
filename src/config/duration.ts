const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(?:\d+(?:ms|s|m|h|d))+$/
const PART = /(\d+)(ms|s|m|h|d)/g

/**
 * Parses a duration such as `90s`, `15m`, `12h`, `7d` or `1h30m` into
 * milliseconds. A bare number is taken as seconds. Returns undefined when the
 * value is not a duration.
 */
export function parseDuration (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined
  if (typeof value !== 'string') return undefined
  const s = value.trim()
  if (/^\d+$/.test(s)) return Number(s) * 1000
  if (!DURATION.test(s)) return undefined
  let total = 0
  for (const m of s.matchAll(PART)) total += Number(m[1]) * UNIT_MS[m[2]!]!
  return total
}

/** Milliseconds as the largest whole unit: 43200000 → `12h`, 90000 → `90s`. */
export function formatDuration (ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
