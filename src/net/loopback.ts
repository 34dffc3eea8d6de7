import { isIP } from 'node:net'

/** True for hosts that can only be this machine: tests and the demo may use plain http there. */
export function isLoopbackHost (hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '')
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}
