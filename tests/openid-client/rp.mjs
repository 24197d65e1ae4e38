// A relying party built on panva's openid-client (a certified OpenID Connect RP library), driven by
// OAuthServer's integration tests (CertifiedRelyingPartyTests). It talks to our server only through the
// library: discovery, client authentication, DPoP proofs and nonces, grants, userinfo.
//
// Usage: node rp.mjs <scenario>   with RP_CONFIG holding a JSON object:
//   { "issuer": "...", "client_id": "...", "private_jwk": {...}?, "scope": "...", ...scenario fields }
// It writes one JSON object per line to stdout ({ "step": name, ... }); when it needs the test to act (a
// person signing in, approving a device), it writes a step and reads one line from stdin.
// Any failure ends the run with a { "step": "error" } line and exit code 1.
import * as client from 'openid-client';
import { calculateJwkThumbprint } from 'jose';
import { createInterface } from 'node:readline';
import { webcrypto } from 'node:crypto';

const config = JSON.parse(process.env.RP_CONFIG ?? '{}');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function emit(step, fields = {}) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
}

async function ask(step, fields) {
  emit(step, fields);
  const { value, done } = await lines.next();
  if (done) throw new Error(`stdin closed while waiting after step ${step}`);
  return value.trim();
}

// The error a refused grant gives, as the library reports it.
async function refusal(action) {
  try {
    await action();
    return { refused: false };
  } catch (error) {
    const challenge = error.cause?.[0]?.parameters ?? {};
    return {
      refused: true,
      error: error.error ?? challenge.error ?? error.code ?? error.name,
      error_description: error.error_description ?? challenge.error_description ?? null,
      status: error.status ?? null,
    };
  }
}

async function privateKey(jwk) {
  const alg = jwk.alg ?? (jwk.kty === 'EC' ? 'ES256' : 'RS256');
  const algorithm = jwk.kty === 'EC'
    ? { name: 'ECDSA', namedCurve: jwk.crv }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const key = await webcrypto.subtle.importKey('jwk', jwk, algorithm, false, ['sign']);
  return { key, kid: jwk.kid, alg };
}

async function discover(clientAuth, metadata = {}) {
  const configuration = await client.discovery(
    new URL(config.issuer), config.client_id, metadata, clientAuth, { execute: [client.allowInsecureRequests] });
  return configuration;
}

function tokenFields(tokens) {
  return {
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token ?? null,
    id_token_claims: tokens.id_token ? tokens.claims() : null,
    scope: tokens.scope ?? null,
    issued_token_type: tokens.issued_token_type ?? null,
  };
}

const scenarios = {
  // RFC 7523 client authentication with the key registered for the client; a machine token, then introspection
  // and revocation, each authenticated by a fresh assertion.
  async 'private-key-jwt'() {
    const key = await privateKey(config.private_jwk);
    const untyped = await discover(client.PrivateKeyJwt(key));
    emit('untyped', await refusal(() => client.clientCredentialsGrant(untyped, { scope: config.scope })));

    // RFC 10070: the assertion is explicitly typed; the library's own option sets the header.
    const configuration = await discover(client.PrivateKeyJwt(key, { [client.modifyAssertion]: (header) => { header.typ = 'client-authentication+jwt'; } }));
    emit('discovered', { auth_methods: configuration.serverMetadata().token_endpoint_auth_methods_supported ?? [] });
    const tokens = await client.clientCredentialsGrant(configuration, { scope: config.scope });
    emit('tokens', tokenFields(tokens));
    const introspection = await client.tokenIntrospection(configuration, tokens.access_token);
    emit('introspected', { active: introspection.active, client_id: introspection.client_id ?? null, sub: introspection.sub ?? null });
  },

  // A public client signs a person in with the code flow and PKCE, its tokens bound to its DPoP key (dpop_jkt binds
  // the code too), refreshes with the same key, calls userinfo with a proof; a refresh with another key is refused.
  async 'dpop-code'() {
    const configuration = await discover(client.None(), { token_endpoint_auth_method: 'none' });
    emit('discovered', { dpop_algs: configuration.serverMetadata().dpop_signing_alg_values_supported ?? [] });
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const dpop = client.getDPoPHandle(configuration, keyPair);
    const publicJwk = await webcrypto.subtle.exportKey('jwk', keyPair.publicKey);
    const jkt = await calculateJwkThumbprint(publicJwk);

    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const authorizeUrl = client.buildAuthorizationUrl(configuration, {
      redirect_uri: config.redirect_uri,
      scope: config.scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      dpop_jkt: jkt,
    });
    const callback = await ask('authorize', { url: authorizeUrl.href, jkt });

    const tokens = await client.authorizationCodeGrant(
      configuration, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP: dpop });
    emit('tokens', { ...tokenFields(tokens), jkt });

    const userinfo = await client.fetchUserInfo(configuration, tokens.access_token, tokens.claims().sub, { DPoP: dpop });
    emit('userinfo', { sub: userinfo.sub, email: userinfo.email ?? null });

    const refreshed = await client.refreshTokenGrant(configuration, tokens.refresh_token, undefined, { DPoP: dpop });
    emit('refreshed', tokenFields(refreshed));

    const otherKey = client.getDPoPHandle(configuration, await client.randomDPoPKeyPair('ES256'));
    emit('refresh_with_other_key', await refusal(() => client.refreshTokenGrant(configuration, refreshed.refresh_token, undefined, { DPoP: otherKey })));
  },
};

const name = process.argv[2];
try {
  if (!scenarios[name]) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
  await scenarios[name]();
  emit('done');
  process.exit(0);
} catch (error) {
  emit('error', { message: String(error.message ?? error), error: error.error ?? error.code ?? null, status: error.status ?? null });
  process.exit(1);
}
