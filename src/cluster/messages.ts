/**
 * The messages the primary and its workers exchange over the cluster IPC
 * channel. Every type starts with `gatehouse:`, so other messages on the
 * channel are ignored.
 */

/** The primary asks a worker for one of its admin URLs. */
export interface AdminAsk { readonly type: 'gatehouse:admin', readonly id: number, readonly url: string }
/** A worker's answer to an AdminAsk with the same id. */
export interface AdminAnswer { readonly type: 'gatehouse:admin', readonly id: number, readonly status: number, readonly body: string }
/** A session revocation, relayed by the primary to every other worker. */
export interface Revoke { readonly type: 'gatehouse:revoke', readonly key: string, readonly at: number, readonly ttl: number }
export type Message = AdminAsk | AdminAnswer | Revoke

/** Whether an IPC message is one of Gatehouse's. */
export function isMessage (m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('gatehouse:')
}
