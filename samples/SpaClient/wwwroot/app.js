import { OidcClient } from './oidc.js';

const $ = (id) => document.getElementById(id);
let refreshCount = 0;
let config;
let client;

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function showError(error) {
  $('error').hidden = false;
  $('error').textContent = error instanceof Error ? error.message : String(error);
}

function render() {
  const user = client.user;
  $('signed-in').hidden = !user;
  $('signed-out').hidden = !!user;
  if (user) {
    setStatus('signed-in', 'Signed in.');
    $('user').textContent = user.email ?? user.name ?? user.sub;
    $('subject').textContent = user.sub;
    $('expires').textContent = new Date(client.expiresAt).toLocaleTimeString();
    $('refresh-count').textContent = String(refreshCount);
  }
}

async function callApi() {
  $('api-result').textContent = 'Calling…';
  try {
    let response = await fetch(config.apiUrl, { headers: { Authorization: `Bearer ${await client.accessToken()}` } });
    if (response.status === 401) {
      // The API saw an expired or revoked token: refresh once and try again.
      await client.refresh();
      response = await fetch(config.apiUrl, { headers: { Authorization: `Bearer ${await client.accessToken()}` } });
    }
    const text = await response.text();
    $('api-result').dataset.status = String(response.status);
    $('api-result').textContent = response.ok
      ? JSON.stringify(JSON.parse(text), null, 2)
      : `HTTP ${response.status} ${response.headers.get('WWW-Authenticate') ?? ''}\n${text}`;
  } catch (error) {
    $('api-result').dataset.status = 'error';
    $('api-result').textContent = `The call failed: ${error.message}`;
  }
}

async function main() {
  config = await (await fetch('/config.json')).json();
  client = new OidcClient(config);
  let signedIn = false;
  client.onTokens = (tokens, error) => {
    // The first tokens come from the code; every later set comes from a silent refresh.
    if (tokens && signedIn) refreshCount += 1;
    signedIn = !!tokens;
    render();
    if (!tokens) {
      setStatus('signed-out', 'Your session ended.');
      if (error) showError(error);
    }
  };

  $('sign-in').addEventListener('click', () => client.signIn().catch(showError));
  $('sign-out').addEventListener('click', () => client.signOut().catch(showError));
  $('call-api').addEventListener('click', callApi);

  if (client.isCallback()) {
    setStatus('working', 'Completing sign-in…');
    try {
      await client.handleCallback();
      render();
      await callApi();
      return;
    } catch (error) {
      showError(error);
    }
  }

  render();
  setStatus('signed-out', 'Not signed in.');
}

main().catch((error) => {
  setStatus('failed', 'The app could not start.');
  showError(error);
});
