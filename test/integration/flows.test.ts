import t from 'tap'
import { decodeJwt } from 'jose'
import { ALL_RESPONSE_TYPES } from '../../src/demo/idp.js'
import { request } from '../fixtures/browser.js'
import { CLIENT_ID, flowClient, flowYaml, modesFor, startStack } from '../fixtures/stack.js'

/**
 * Every response type x every response mode the provider allows: a login
 * through the real oidc-provider's pages, then the upstream receives the ID
 * token on one route, the access token on another, and the identity headers.
 */
for (const responseType of ALL_RESPONSE_TYPES) {
  for (const responseMode of modesFor(responseType)) {
    t.test(`response_type=${responseType} response_mode=${responseMode}`, async (t) => {
      const s = await startStack(t, { yaml: flowYaml({ responseType, responseMode }), client: flowClient(responseType) })
      const b = s.browser()
      const { res, hops } = await b.navigate(`${s.url}/app/page?x=1`, { user: 'alice' })

      const authorize = new URL(hops[0]!.headers.location!)
      t.equal(authorize.origin + authorize.pathname, `${s.idp.issuer}/auth`, 'sent to the provider')
      t.equal(authorize.searchParams.get('response_type'), responseType)
      const defaultMode = responseType === 'code' ? 'query' : 'fragment'
      t.equal(authorize.searchParams.get('response_mode'), responseMode === defaultMode ? null : responseMode, 'response_mode sent only when not the default')
      const nonce = authorize.searchParams.get('nonce')
      t.ok(nonce !== null && nonce.length >= 43, 'a 256-bit nonce is always sent')
      t.equal(authorize.searchParams.get('code_challenge_method'), responseType.includes('code') ? 'S256' : null, 'PKCE exactly when a code is issued')

      const callbacks = hops.filter((h) => h.url.startsWith(`${s.url}/.gatehouse/callback`))
      if (responseMode === 'fragment') {
        t.equal(callbacks[0]?.headers['x-gatehouse-response'], 'callback-fragment', 'the fragment page was served')
        t.equal(callbacks[0]?.status, 200)
      }
      const done = callbacks.at(-1)!
      t.equal(done.status, 303, 'the callback answers 303')
      t.equal(done.headers.location, '/app/page?x=1', 'back to the page the login started from')
      t.ok((await b.cookieHeader(`${s.url}/`)).includes('gatehouse='), 'a session cookie was set')

      t.equal(res.status, 200)
      const seen = s.upstream.received.at(-1)!
      t.equal(seen.url, '/app/page?x=1')
      t.equal(seen.headers['x-forwarded-user'], 'alice')
      t.equal(seen.headers['x-forwarded-email'], 'alice@example.com')
      t.equal(seen.headers['x-forwarded-groups'], 'admins,staff')
      const idToken = String(seen.headers.authorization).replace(/^Bearer /, '')
      const claims = decodeJwt(idToken)
      t.equal(claims.sub, 'alice', 'the ID token goes upstream on a bearer: id_token route')
      t.equal(claims.aud, CLIENT_ID)
      t.equal(claims.nonce, nonce, 'with this login\'s nonce')

      const api = await b.fetch(`${s.url}/api/things`, { headers: { accept: 'application/json' } })
      t.equal(api.status, 200)
      const apiSeen = s.upstream.received.at(-1)!
      if (responseType === 'id_token') {
        t.equal(apiSeen.headers.authorization, undefined, 'no access token in this flow: none forwarded')
      } else {
        const access = String(apiSeen.headers.authorization).replace(/^Bearer /, '')
        t.not(access, idToken)
        const me = await request(`${s.idp.issuer}/me`, { headers: { authorization: `Bearer ${access}` } })
        t.equal(me.status, 200, 'the forwarded access token is one the provider accepts')
        t.equal(me.json().sub, 'alice')
      }
      t.equal(s.idp.grants.get('authorization_code') ?? 0, responseType.includes('code') ? 1 : 0, 'a code is redeemed exactly when one is issued')
    })
  }
}
