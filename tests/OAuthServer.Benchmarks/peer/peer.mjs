// The benchmark's peer: panva's oidc-provider, configured to do the same protocol work as OAuthServer for the
// scenarios it is compared on (discovery, jwks, client_credentials, refresh rotation). Benchmark-only: started
// by tests/OAuthServer.Benchmarks as its own node process on a loopback port, stopped when the run ends.
//
// Configuration comes from the environment, set by the tool (PeerUnderTest.cs):
//   PEER_PORT, PEER_ISSUER, PEER_RESOURCE, PEER_KEY_BITS, PEER_PUBLIC_CLIENT_ID, PEER_REDIRECT_URI,
//   PEER_SERVICE_CLIENT_ID, PEER_SERVICE_SECRET (the confidential client's secret; never printed).
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`peer: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('PEER_PORT'));
const issuer = required('PEER_ISSUER');
const resource = required('PEER_RESOURCE');
const keyBits = Number(process.env.PEER_KEY_BITS ?? '2048');

// One RSA signing key made at start, as ours has keys made by `keys new` before its start.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: keyBits });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

// Access tokens for the one API: RS256 JWTs (RFC 9068) whose aud is the resource, as ours gives `api` tokens.
const apiServer = {
  scope: 'api',
  audience: resource,
  accessTokenFormat: 'jwt',
  accessTokenTTL: 600,
  jwt: { sign: { alg: 'RS256' } },
};

const configuration = {
  clients: [
    {
      // The SPA: public, authorization code with PKCE, then refresh tokens.
      client_id: required('PEER_PUBLIC_CLIENT_ID'),
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [required('PEER_REDIRECT_URI')],
      // The allow-list covers the OpenID scopes; the API's scope comes from getResourceServerInfo.
      scope: 'openid offline_access',
    },
    {
      // The service: confidential, client_credentials only, the secret in the form body as our tool sends it.
      client_id: required('PEER_SERVICE_CLIENT_ID'),
      client_secret: required('PEER_SERVICE_SECRET'),
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
  ],
  // OAuth 2.1: the code flow only (no implicit, no hybrid), as ours.
  responseTypes: ['code'],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // The same paths as ours, so one client drives both servers.
  routes: {
    authorization: '/connect/authorize',
    token: '/connect/token',
    jwks: '/.well-known/jwks.json',
    userinfo: '/connect/userinfo',
    revocation: '/connect/revoke',
    introspection: '/connect/introspect',
    end_session: '/connect/logout',
  },
  // Every account exists and its claims are just the subject: the sign-in is not what is compared.
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      // The code exchange and every refresh mint the access token for the granted API.
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) {
          throw new Provider.errors.InvalidTarget();
        }
        return apiServer;
      },
    },
  },
  // OAuth 2.1: PKCE for every client (oidc-provider supports only S256).
  pkce: { required: () => true },
  // RFC 9700 §4.14.2: a new refresh token on every use; a used one presented again revokes the grant.
  rotateRefreshToken: () => true,
  // Ours issues a refresh token to the SPA on the code exchange; oidc-provider drops offline_access unless the
  // request also says prompt=consent, so the refresh token is tied to the client's grant type instead.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  // Consent skipped for the first-party SPA (ours: --consent implicit): its grant is made on first use.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(resource, 'api');
    await grant.save();
    return grant;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // Ours: Tokens:AccessTokenLifetime 10 min, Tokens:RefreshTokenLifetime 14 days, codes 5 min.
  ttl: {
    AccessToken: 600,
    ClientCredentials: 600,
    AuthorizationCode: 300,
    IdToken: 600,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Interaction: 600,
    Session: 14 * 24 * 3600,
  },
};

const provider = new Provider(issuer, configuration);
// TLS ends at a proxy, as for ours: the tool sends X-Forwarded-Proto: https and koa trusts it.
provider.proxy = true;

// The sign-in: the interaction signs in the account named by login_hint (the tool's user for that chain), with
// no page and no password. It runs before the measured windows, never inside them.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)$/.exec(ctx.path);
  if (!match || ctx.method !== 'GET') {
    return next();
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const accountId = details.params.login_hint;
  if (details.prompt.name !== 'login' || typeof accountId !== 'string' || accountId.length === 0) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: `unexpected interaction ${details.prompt.name}` };
    return undefined;
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId } }, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
});

// Only the error's name and message: never a token or a secret.
provider.on('server_error', (_ctx, error) => console.error(`peer: server_error ${error.name}: ${error.message}`));

provider.listen(port, '127.0.0.1', () => console.log(`peer ready on http://127.0.0.1:${port} (pid ${process.pid})`));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
