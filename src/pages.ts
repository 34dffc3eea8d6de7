import { createHash } from 'node:crypto'
import type { FastifyReply } from 'fastify'

/** Pages Gatehouse renders itself: tiny, no scripts, no third-party resources. */

export function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}code{background:#f3f3f3;padding:0 .3em}.muted{color:#666;font-size:.9rem}'
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64')

/** Strict CSP for our own pages: nothing but the one inline stylesheet above. */
export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`

export interface PageOptions {
  readonly status: number
  readonly title: string
  readonly message: string
  readonly correlationId: string
  readonly retryHref?: string
  readonly code?: string
}

export function renderErrorPage (p: PageOptions): string {
  const retry = p.retryHref !== undefined ? `<p><a href="${escapeHtml(p.retryHref)}">Try again</a></p>` : ''
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(p.title)}</title><style>${STYLE}</style></head>` +
    `<body><h1>${escapeHtml(p.title)}</h1><p>${escapeHtml(p.message)}</p>${retry}` +
    `<p class="muted">Error ${p.status}${p.code !== undefined ? ` · <code>${escapeHtml(p.code)}</code>` : ''} · correlation id <code>${escapeHtml(p.correlationId)}</code></p></body></html>`
}

/** Headers every response Gatehouse makes itself carries. */
export function markGatewayResponse (reply: FastifyReply, code: string): FastifyReply {
  return reply
    .header('x-gatehouse-response', code)
    .header('cache-control', 'no-store')
}

export function sendErrorPage (reply: FastifyReply, p: PageOptions): FastifyReply {
  return markGatewayResponse(reply, p.code ?? String(p.status))
    .code(p.status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .send(renderErrorPage(p))
}
