// A small OAuth 2.1 / OpenID Connect client for a browser app: authorization code + PKCE S256, state, nonce,
// RFC 9207 iss check, rotating refresh tokens, revocation and RP-initiated logout. Every endpoint comes from the
// discovery document. Tokens are held in this module's memory and never written to any storage.

const PENDING_KEY = 'oidc.pending';

/** base64url without padding (RFC 7636 appendix A). */
function base64Url(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** 32 random bytes from the platform CSPRNG: a PKCE verifier (43 characters), a state or a nonce. */
function randomToken() {
  return base64Url(crypto.getRandomValues(new Uint8Array(32)));
}

async function s256(text) {
  return base64Url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

function decodeJwtPayload(jwt) {
  const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  const json = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)));
  return JSON.parse(json);
}

export class OidcClient {
  #config;
  #metadata = null;
  #tokens = null; // { accessToken, refreshToken, idToken, expiresAt (ms), claims }
  #refreshTimer = 0;
  #refreshing = null;

  /** Called after every silent refresh with the new token state; and with null when the session ended. */
  onTokens = () => {};

  constructor(config) {
    this.#config = config;
  }

  get redirectUri() { return `${location.origin}/callback`; }
  get postLogoutRedirectUri() { return `${location.origin}/`; }
  get user() { return this.#tokens?.claims ?? null; }
  get expiresAt() { return this.#tokens?.expiresAt ?? null; }

  async discover() {
    if (this.#metadata) return this.#metadata;
    const authority = this.#config.authority.endsWith('/') ? this.#config.authority : `${this.#config.authority}/`;
    const response = await fetch(`${authority}.well-known/openid-configuration`);
    if (!response.ok) throw new Error(`discovery failed: HTTP ${response.status}`);
    const metadata = await response.json();
    // OpenID Connect Discovery §4.3: the issuer in the document must be the one we asked.
    if (metadata.issuer !== authority) throw new Error(`discovery names issuer ${metadata.issuer}, expected ${authority}`);
    if (!metadata.code_challenge_methods_supported?.includes('S256')) throw new Error('the server does not offer PKCE S256');
    this.#metadata = metadata;
    return metadata;
  }

  /** Sends the browser to the authorization endpoint. */
  async signIn() {
    const metadata = await this.discover();
    const pending = { state: randomToken(), nonce: randomToken(), verifier: randomToken() };
    // The verifier, state and nonce must survive the round trip through the server, which reloads this page.
    // sessionStorage is per tab and is emptied as soon as the callback is handled; no token is ever stored.
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    const url = new URL(metadata.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: this.#config.clientId,
      response_type: 'code',
      redirect_uri: this.redirectUri,
      scope: this.#config.scope,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await s256(pending.verifier),
      code_challenge_method: 'S256',
    }).toString();
    location.assign(url.toString());
  }

  /** True when this page load is the authorization response (a code or an error with a state). */
  isCallback() {
    const query = new URLSearchParams(location.search);
    return location.pathname === '/callback' && query.has('state') && (query.has('code') || query.has('error'));
  }

  /** Checks the authorization response and redeems the code. Throws with a readable message on any mismatch. */
  async handleCallback() {
    const query = new URLSearchParams(location.search);
    // Clean the address bar at once: the code must not stay in history or be bookmarked.
    history.replaceState(null, '', '/');
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
    sessionStorage.removeItem(PENDING_KEY);
    if (!pending || query.get('state') !== pending.state) {
      throw new Error('the response does not belong to a sign-in started here (state mismatch)');
    }

    const metadata = await this.discover();
    // RFC 9207: the response names its issuer, which defeats mix-up attacks between servers.
    if (metadata.authorization_response_iss_parameter_supported && query.get('iss') !== metadata.issuer) {
      throw new Error('the response comes from another issuer');
    }
    if (query.has('error')) {
      throw new Error(`the server answered ${query.get('error')}: ${query.get('error_description') ?? ''}`);
    }

    const tokens = await this.#tokenRequest({
      grant_type: 'authorization_code',
      code: query.get('code'),
      redirect_uri: this.redirectUri,
      code_verifier: pending.verifier,
    });
    this.#accept(tokens, pending.nonce);
  }

  /** A valid access token, refreshed first when it has expired (or is about to). */
  async accessToken() {
    if (!this.#tokens) throw new Error('not signed in');
    if (Date.now() >= this.#tokens.expiresAt - 1000) await this.refresh();
    return this.#tokens.accessToken;
  }

  /** Redeems the refresh token; the server rotates it, so the new one replaces the old at once. */
  refresh() {
    // One refresh at a time: sending the same refresh token twice would look like a replay and end the session.
    this.#refreshing ??= (async () => {
      try {
        if (!this.#tokens?.refreshToken) throw new Error('no refresh token');
        const tokens = await this.#tokenRequest({ grant_type: 'refresh_token', refresh_token: this.#tokens.refreshToken });
        this.#accept(tokens, null);
      } catch (error) {
        this.#clear();
        this.onTokens(null, error);
        throw error;
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  /** Revokes the refresh token, forgets everything, and ends the server session through end-session. */
  async signOut() {
    const metadata = await this.discover();
    const tokens = this.#tokens;
    this.#clear();
    if (tokens?.refreshToken && metadata.revocation_endpoint) {
      // RFC 7009: best effort; the end-session request below also ends the session.
      await fetch(metadata.revocation_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: tokens.refreshToken, token_type_hint: 'refresh_token', client_id: this.#config.clientId }),
      }).catch(() => {});
    }
    const url = new URL(metadata.end_session_endpoint);
    const parameters = { post_logout_redirect_uri: this.postLogoutRedirectUri, client_id: this.#config.clientId };
    if (tokens?.idToken) parameters.id_token_hint = tokens.idToken;
    url.search = new URLSearchParams(parameters).toString();
    location.assign(url.toString());
  }

  async #tokenRequest(parameters) {
    const metadata = await this.discover();
    const response = await fetch(metadata.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: this.#config.clientId, ...parameters }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(`token request failed: ${body.error ?? response.status} ${body.error_description ?? ''}`);
    if (body.token_type?.toLowerCase() !== 'bearer' || !body.access_token) throw new Error('the token response is malformed');
    return body;
  }

  #accept(body, expectedNonce) {
    let idToken = this.#tokens?.idToken ?? null;
    let claims = this.#tokens?.claims ?? null;
    if (body.id_token) {
      // The ID token came straight from the token endpoint over TLS (OIDC Core §3.1.3.7 lets a code-flow client
      // rely on that instead of the signature); its issuer, audience, lifetime and nonce are still checked.
      const payload = decodeJwtPayload(body.id_token);
      const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (payload.iss !== this.#metadata.issuer) throw new Error('the ID token has another issuer');
      if (!audiences.includes(this.#config.clientId)) throw new Error('the ID token is not for this client');
      if (payload.exp * 1000 < Date.now()) throw new Error('the ID token has expired');
      if (expectedNonce !== null && payload.nonce !== expectedNonce) throw new Error('the ID token nonce does not match');
      if (claims && payload.sub !== claims.sub) throw new Error('a refresh returned another user');
      idToken = body.id_token;
      claims = payload;
    }
    if (!claims) throw new Error('no ID token was returned');

    this.#tokens = {
      accessToken: body.access_token,
      refreshToken: body.refresh_token ?? this.#tokens?.refreshToken ?? null,
      idToken,
      claims,
      expiresAt: Date.now() + (Number(body.expires_in) || 60) * 1000,
    };
    this.#schedule();
    this.onTokens(this.#tokens, null);
  }

  // Silent refresh: when the access token expires, the refresh token gets a new one with no user interaction.
  #schedule() {
    clearTimeout(this.#refreshTimer);
    if (!this.#tokens?.refreshToken) return;
    const delay = Math.max(this.#tokens.expiresAt - Date.now(), 0);
    this.#refreshTimer = setTimeout(() => this.refresh().catch(() => {}), delay);
  }

  #clear() {
    clearTimeout(this.#refreshTimer);
    this.#tokens = null;
  }
}
