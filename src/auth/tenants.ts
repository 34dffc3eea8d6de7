/**
 * Microsoft Entra ID multi-tenant sign-in, with an explicit list of tenants.
 *
 * The multi-tenant endpoints (`.../organizations/v2.0`, `.../common/v2.0`)
 * publish the issuer as a template, `https://login.microsoftonline.com/{tenantid}/v2.0`,
 * and each tenant's ID tokens carry their own issuer with `{tenantid}`
 * replaced by their `tid`. Accepting the template as it is would accept a
 * user of any tenant; Gatehouse accepts a token only when its `tid` is one of
 * the provider's `tenants` and its `iss` is exactly the template filled in
 * with that `tid`. Pure: used by config validation and the ID token check.
 */

/** The issuers a provider with `tenants` may be configured with (their discovery documents name the template). */
export const MULTI_TENANT_ISSUERS: readonly string[] = [
  'https://login.microsoftonline.com/organizations/v2.0',
  'https://login.microsoftonline.com/common/v2.0',
]

/** The issuer the multi-tenant discovery documents name, and the tokens' issuer once `{tenantid}` is filled in. */
export const TENANT_ISSUER_TEMPLATE = 'https://login.microsoftonline.com/{tenantid}/v2.0'

/** An Entra tenant id as `tid` carries it: a lower-case GUID. */
export const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The issuer discovery must name for a provider: the template with `tenants`, else the configured issuer itself. */
export function expectedDiscoveredIssuer (p: { readonly issuer: string, readonly tenants?: readonly string[] | undefined }): string {
  return p.tenants !== undefined ? TENANT_ISSUER_TEMPLATE : p.issuer
}

/**
 * Why a token's `iss` and `tid` are not acceptable under `template` and the
 * listed tenants, or undefined when they are: `tid` must be listed, and `iss`
 * must be the template with `{tenantid}` replaced by that `tid`.
 */
export function tenantIssuerProblem (iss: unknown, tid: unknown, template: string, tenants: readonly string[]): { readonly claim: 'tid' | 'iss', readonly message: string } | undefined {
  if (typeof tid !== 'string' || !TENANT_ID.test(tid)) return { claim: 'tid', message: 'tid is missing or not a tenant id' }
  if (!tenants.includes(tid)) return { claim: 'tid', message: `tenant ${tid} is not one of the provider's tenants` }
  if (iss !== template.replace('{tenantid}', tid)) return { claim: 'iss', message: 'iss is not the issuer of the token\'s tenant (tid)' }
  return undefined
}
