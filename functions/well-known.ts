/**
 * GET /.well-known/openid-configuration and GET /.well-known/jwks.json — the discovery document
 * and the key set of Warden tokens, for anyone who verifies them: the HTTP API's JWT authorizer
 * fetches both from the token issuer, so neither may sit behind it.
 */
import { apiHandler, json } from './lib/http.js';
import { getRuntime } from './lib/runtime.js';

/** The keys change only with a new deployment; a verifier may keep them a few minutes. */
const cacheable = { 'cache-control': 'public, max-age=300' };

export const handler = apiHandler({ audience: 'public' })
  .handler(async (event) => {
    const { tokens } = getRuntime();
    if (event.routeKey === 'GET /.well-known/jwks.json') return json(200, tokens.jwks(), cacheable);
    // OpenID Connect Discovery 1.0 §4: the document lives at the issuer + /.well-known/openid-configuration.
    return json(200, { issuer: tokens.issuer, jwks_uri: `${tokens.issuer.replace(/\/$/, '')}/.well-known/jwks.json` }, cacheable);
  });
