// The benchmark's identity provider: the real oidc-provider (src/demo/idp.ts),
// configured so that a session is as heavy as a real one: an ID token and a
// JWT access token of about 1 KB each, and a refresh token.
import { dist } from './stack.mjs'

export const CLIENT_ID = 'gatehouse-bench'
export const CLIENT_SECRET = 'gatehouse-bench-client-secret-0123456789abcdef'
export const USER = 'alice'
/** The API the provider's JWT access tokens are for (their aud). */
export const RESOURCE = 'https://api.bench.example'

/** 8 directory group names: what a directory-backed provider puts in its tokens (brings each token to ~1 KB). */
export const GROUPS = Array.from({ length: 8 }, (_, i) => `cn=team-${String(i).padStart(2, '0')},ou=groups,dc=corp`)

/**
 * oidc-provider settings for realistic tokens:
 * - the access token is a JWT (resource indicators with a default resource,
 *   `accessTokenFormat: 'jwt'`), carrying the groups like Entra ID or Keycloak do;
 * - the ID token carries email, name and the groups (`conformIdTokenClaims: false`);
 * - a refresh token is issued (offline_access, always).
 */
function realisticTokens (config, jwtAccessTokens) {
  jwtAccessTokens(config, RESOURCE, { byDefault: true })
  config.extraTokenClaims = async (_ctx, token) => (token.kind === 'AccessToken' ? { groups: GROUPS, email: `${USER}@bench.example` } : undefined)
}

/**
 * Starts the provider in this process with one confidential client whose
 * redirect URIs cover every Gatehouse instance of the run.
 * @param {string[]} redirectUris
 */
export async function startProvider (redirectUris) {
  const { startDevProvider, jwtAccessTokens } = await dist('demo/idp.js')
  return startDevProvider({
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: redirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    users: { [USER]: { email: `${USER}@bench.example`, name: 'Alice Bench', groups: GROUPS } },
    configure: (config) => { realisticTokens(config, jwtAccessTokens) },
  })
}

/** Requests the provider has served so far, all paths together. */
export function providerRequests (idp) {
  let n = 0
  for (const v of idp.requests.values()) n += v
  return n
}
