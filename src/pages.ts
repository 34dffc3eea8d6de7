import { createHash } from 'node:crypto'
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'
import { errorEntry } from './errors.js'

/**
 * Pages Gatehouse renders itself: tiny, no third-party resources, and no
 * script except the fixed one of the fragment callback page, allowed by its hash.
 */

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

/** One link on the sign-in chooser page. */
export interface ProviderChoice {
  readonly id: string
  readonly label: string
}

/** The code (and response mark) of the sign-in chooser page. */
export const CHOOSER_CODE = 'GH_LOGIN_CHOOSE'

/**
 * The chooser page of a route with several providers: one link per provider
 * to /.gatehouse/login with that provider and the return path. Everything
 * from the request or the config is escaped (and URL-encoded in the links).
 */
export function renderChooserPage (choices: readonly ProviderChoice[], rd: string, correlationId: string): string {
  const entry = errorEntry(CHOOSER_CODE)!
  const items = choices.map((c) => `<li><a href="${escapeHtml(`/.gatehouse/login?provider=${encodeURIComponent(c.id)}&rd=${encodeURIComponent(rd)}`)}">${escapeHtml(c.label)}</a></li>`).join('')
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(entry.title)}</title><style>${STYLE}</style></head>` +
    `<body><h1>${escapeHtml(entry.title)}</h1><p>${escapeHtml(entry.message)}</p><ul>${items}</ul>` +
    `<p class="muted">correlation id <code>${escapeHtml(correlationId)}</code></p></body></html>`
}

/** Sends the sign-in chooser page (401: the request needs a sign-in; the page says where). */
export function sendChooserPage (reply: FastifyReply, choices: readonly ProviderChoice[], rd: string): FastifyReply {
  const html = renderChooserPage(choices, rd, reply.request.id)
  return sendPage(reply.header('www-authenticate', 'Bearer realm="gatehouse"'), CHOOSER_CODE, errorEntry(CHOOSER_CODE)!.status, PAGE_CSP, html)
}

/** Headers every response Gatehouse makes itself carries. */
export function markGatewayResponse (reply: FastifyReply, code: string): FastifyReply {
  return reply
    .header('x-gatehouse-response', code)
    .header('cache-control', 'no-store')
    .header('x-request-id', reply.request.id)
}

/** The headers of every HTML page Gatehouse renders, besides its mark and request id: its CSP, never cached, never leaking a Referer. */
function pageHeaders (csp: string): Readonly<Record<string, string>> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': csp,
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  }
}

/** Sends one of Gatehouse's own HTML pages. */
function sendPage (reply: FastifyReply, mark: string, status: number, csp: string, html: string): FastifyReply {
  return markGatewayResponse(reply, mark).code(status).headers(pageHeaders(csp)).send(html)
}

export interface ErrorPageOptions {
  /** A catalog code (src/errors/catalog.ts), or another one (a Fastify `FST_*`) with `status` given. */
  readonly code: string
  readonly correlationId: string
  /** Default: the catalog's. */
  readonly status?: number
  /** Default: the catalog's. */
  readonly title?: string
  /** The text the user may see; default: the catalog's. */
  readonly message?: string
  readonly retryHref?: string
}

/** The status and HTML of the error page for `code`, with the status, title and message the catalog gives it unless told otherwise. */
function errorPage (p: ErrorPageOptions): { status: number, html: string } {
  const entry = errorEntry(p.code)
  const status = p.status ?? entry?.status ?? 500
  const title = p.title ?? entry?.title ?? (status >= 500 ? 'Internal error' : 'Bad request')
  const message = p.message ?? entry?.message ?? (status >= 500 ? 'Something went wrong in the gateway.' : 'The request cannot be accepted.')
  return {
    status,
    html: renderErrorPage({ status, title, message, correlationId: p.correlationId, code: p.code, ...(p.retryHref !== undefined ? { retryHref: p.retryHref } : {}) }),
  }
}

/** Sends the error page for `code` through Fastify. */
export function sendErrorPage (reply: FastifyReply, p: ErrorPageOptions): FastifyReply {
  const { status, html } = errorPage(p)
  return sendPage(reply, p.code, status, PAGE_CSP, html)
}

/**
 * Writes the error page for `code` straight to a Node response (a request
 * Gatehouse already forwards without Fastify, whose upstream failed): the same
 * page and headers as sendErrorPage, marked with `mark`.
 */
export function writeErrorPage (res: ServerResponse, p: ErrorPageOptions & { readonly mark: string, readonly setCookies?: readonly string[] | undefined }): void {
  const { status, headers, html } = errorResponse(p)
  res.writeHead(status, headers)
  res.end(html)
}

/**
 * The error page for `code` with every header it is sent with (marked with
 * `mark`): for answers written without Fastify — forwarded requests whose
 * upstream failed, refused WebSocket upgrades (written on the socket).
 */
export function errorResponse (p: ErrorPageOptions & { readonly mark: string, readonly setCookies?: readonly string[] | undefined }): { status: number, headers: OutgoingHttpHeaders, html: string } {
  const { status, html } = errorPage(p)
  const headers: OutgoingHttpHeaders = {
    ...pageHeaders(PAGE_CSP),
    'x-gatehouse-response': p.mark,
    'x-request-id': p.correlationId,
    'content-length': Buffer.byteLength(html),
  }
  if (p.setCookies !== undefined) headers['set-cookie'] = [...p.setCookies]
  return { status, headers, html }
}

/**
 * The fragment callback page's whole script. A server never sees a URL
 * fragment, so for response_mode=fragment this script reads the response
 * from location.hash and POSTs it to the callback (same origin). It builds the
 * form with DOM properties only (no HTML parsing of the values), first takes
 * the tokens out of the address bar and history, and does nothing when there
 * is no response in the fragment.
 */
const FRAGMENT_SCRIPT = `(function () {
  var params = new URLSearchParams(location.hash.slice(1));
  if (!params.has('state') && !params.has('error')) {
    document.getElementById('gh-msg').textContent = 'There is no sign-in response to complete here.';
    return;
  }
  history.replaceState(null, '', location.pathname);
  var form = document.createElement('form');
  form.method = 'post';
  form.action = location.pathname;
  params.forEach(function (value, name) {
    var input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  });
  document.body.appendChild(form);
  form.submit();
})();`
const FRAGMENT_SCRIPT_HASH = createHash('sha256').update(FRAGMENT_SCRIPT).digest('base64')

/**
 * CSP of the fragment page: only its own script and stylesheet, by hash. No
 * form-action: the one form is built by that script, and its POST may be
 * redirected on to the provider (a prompt=none renewal that needs a normal
 * login), which form-action would block in browsers that apply it to redirects.
 */
export const FRAGMENT_PAGE_CSP = `default-src 'none'; script-src 'sha256-${FRAGMENT_SCRIPT_HASH}'; style-src 'sha256-${STYLE_HASH}'; base-uri 'none'; frame-ancestors 'none'`

const FRAGMENT_PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">' +
  `<meta name="referrer" content="no-referrer"><title>Signing in</title><style>${STYLE}</style></head>` +
  '<body><h1>Signing in</h1><p id="gh-msg">Completing sign-in…</p>' +
  '<noscript><p>JavaScript is needed to complete sign-in with this identity provider.</p></noscript>' +
  `<script>${FRAGMENT_SCRIPT}</script></body></html>`

/** Serves the fragment callback page (static: nothing from the request is reflected in it). */
export function sendFragmentPage (reply: FastifyReply): FastifyReply {
  return sendPage(reply, 'callback-fragment', 200, FRAGMENT_PAGE_CSP, FRAGMENT_PAGE)
}
