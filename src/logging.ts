import pino from 'pino'
import type { Config } from './config/types.js'
import { queryRedactor } from './redact.js'

/**
 * The production logger's options (pino, through Fastify): level from the
 * config, and never a token in a line — Cookie, Authorization and Set-Cookie
 * are redacted, and request URLs lose the query parameters that carry codes,
 * states and tokens (redact.ts; `log.redactQueryParams` adds more).
 */
export function loggerOptions (config: Config): object {
  const redact = queryRedactor(config.log.redactQueryParams)
  return {
    level: config.log.level,
    redact: { paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    serializers: {
      req: (req: { method: string, url: string, ip?: string }) => ({ method: req.method, url: redact(req.url), remoteAddress: req.ip }),
    },
  }
}

/** What the access-log batcher writes to: pino's own stdout destination (sonic-boom, synchronous), or a test's sink. */
export interface LineSink {
  write (data: string): unknown
}

/** The most bytes one batched write carries: PIPE_BUF, so that writes of several workers to one pipe never interleave. */
export const BATCH_BYTES = 4096

const ACCESS_LINE_END = '"msg":"request"}\n'

/**
 * The log destination of the running gateway. Access-log lines (one per
 * request, the only frequent ones) are gathered and written together: at
 * most BATCH_BYTES per write and only whole lines, when the next line would
 * not fit, every `flushInterval` ms, before any other log line (which is
 * written at once, so warnings and errors are never held back and the order
 * of lines is kept), and when the process exits. One write(2) per request
 * cost more CPU than the rest of the access log and stalled the event loop
 * behind a slow disk or pipe (docs/performance.md, "The access log").
 *
 * A line longer than BATCH_BYTES is written alone, as before. Lost on
 * SIGKILL: at most `flushInterval` of access-log lines.
 */
export class BatchedLines {
  readonly #sink: LineSink
  #parts: string[] = []
  #bytes = 0
  readonly #timer: NodeJS.Timeout | undefined
  /** flush() for the timer and the process's exit. */
  readonly #flush = (): void => { this.flush() }

  constructor (sink: LineSink, flushInterval: number) {
    this.#sink = sink
    if (flushInterval > 0) {
      this.#timer = setInterval(this.#flush, flushInterval)
      this.#timer.unref()
    }
    process.on('exit', this.#flush)
  }

  write (line: string): void {
    if (!line.endsWith(ACCESS_LINE_END)) {
      this.flush()
      this.#sink.write(line)
      return
    }
    const len = Buffer.byteLength(line)
    if (this.#bytes + len > BATCH_BYTES) this.flush()
    this.#parts.push(line)
    this.#bytes += len
  }

  /** Writes what is gathered. */
  flush (): void {
    if (this.#parts.length === 0) return
    const data = this.#parts.length === 1 ? this.#parts[0]! : this.#parts.join('')
    this.#parts = []
    this.#bytes = 0
    this.#sink.write(data)
  }

  /** Flushes and stops the timer (the gateway closed). */
  close (): void {
    this.flush()
    if (this.#timer !== undefined) clearInterval(this.#timer)
    process.removeListener('exit', this.#flush)
  }
}

let stdout: LineSink | undefined

/**
 * The production log destination: stdout (pino's synchronous destination,
 * which retries a full pipe), behind BatchedLines unless `flushInterval` is
 * 0. One per process, made by the first gateway built in it
 * (`log.flushInterval` is read then).
 */
export function stdoutDestination (flushInterval: number): LineSink {
  if (stdout === undefined) {
    const fd1 = pino.destination({ dest: 1, sync: true })
    stdout = flushInterval === 0 ? fd1 : new BatchedLines(fd1, flushInterval)
  }
  return stdout
}
