import type { FastifyReply, FastifyRequest } from 'fastify'
import { sendErrorPage } from '../pages.js'
import type { Action } from './decide.js'
import { recordDecision, type Decided } from './run.js'

/**
 * Answers a refusal every entry gives the same way through Fastify: 403 for
 * a policy, or the catalog's page for the code (with Retry-After when the
 * decision says when to retry).
 */
export function sendRefusal (d: Decided, action: Extract<Action, { kind: 'forbidden' | 'page' }>, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  recordDecision(d)
  if (action.kind === 'forbidden') return sendErrorPage(reply, { correlationId: request.id, code: 'GH_FORBIDDEN' })
  if (action.retryAfter !== undefined) reply.header('retry-after', String(action.retryAfter))
  return sendErrorPage(reply, { code: action.code, status: action.status, message: action.message, correlationId: request.id })
}
