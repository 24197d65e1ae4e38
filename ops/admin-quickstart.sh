#!/usr/bin/env bash
# Registers a single-page app and a user through the admin API, then signs that user in with the
# authorization code flow and PKCE (S256), using nothing but curl (and openssl for the PKCE hash).
#
# Usage: ADMIN_SECRET=... ops/admin-quickstart.sh [issuer]
#   issuer        defaults to http://localhost:5000/ (the Development server of `dotnet run`)
#   ADMIN_SECRET  the value of Admin:BootstrapClientSecret the server was started with
#   EMAIL, PASSWORD, CLIENT_ID  optional; defaults are generated
set -euo pipefail

issuer="${1:-http://localhost:5000/}"
issuer="${issuer%/}"
: "${ADMIN_SECRET:?set ADMIN_SECRET to the Admin:BootstrapClientSecret of the server}"
suffix="$(openssl rand -hex 4)"
client_id="${CLIENT_ID:-quickstart-spa-$suffix}"
email="${EMAIL:-quickstart-$suffix@example.com}"
password="${PASSWORD:-quickstart-password-$(openssl rand -hex 8)}"
redirect_uri="http://127.0.0.1:8080/quickstart/callback"
jar="$(mktemp)"
trap 'rm -f "$jar"' EXIT

step() { printf '==> %s\n' "$*" >&2; }
# Reads one string field of a JSON answer (OpenIddict indents its JSON; the admin API does not).
json_field() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" | head -1; }
need() { [[ -n "$2" ]] || { echo "no $1 in the answer" >&2; exit 1; }; }

step "1. admin token (client_credentials, scope oauth.admin)"
admin_token="$(curl -sS --fail-with-body -u "admin-cli:$ADMIN_SECRET" \
    -d grant_type=client_credentials -d scope=oauth.admin "$issuer/connect/token" | json_field access_token)"
need "admin access token" "$admin_token"

step "2. register the SPA '$client_id' (public, PKCE, exact redirect URI)"
curl -sS --fail-with-body -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d "{\"client_id\":\"$client_id\",\"type\":\"public\",\"redirect_uris\":[\"$redirect_uri\"],
         \"grant_types\":[\"authorization_code\",\"refresh_token\"],\"scopes\":[\"openid\",\"email\",\"offline_access\"],
         \"consent\":\"implicit\"}" \
    "$issuer/admin/clients" >/dev/null

step "3. create the user $email"
curl -sS --fail-with-body -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" "$issuer/admin/users" >/dev/null

step "4. sign in: authorize -> login form -> code"
verifier="$(openssl rand -base64 48 | tr -d '\n=+/' | cut -c1-64)"
challenge="$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')"
state="$(openssl rand -hex 16)"
authorize="/connect/authorize?client_id=$client_id&response_type=code&scope=openid%20email%20offline_access"
authorize+="&redirect_uri=$(printf '%s' "$redirect_uri" | sed 's/:/%3A/g; s#/#%2F#g')&code_challenge=$challenge"
authorize+="&code_challenge_method=S256&state=$state"
login_page="$(curl -sS -L -c "$jar" -b "$jar" "$issuer$authorize")"
antiforgery="$(printf '%s' "$login_page" | sed -n 's/.*name="__RequestVerificationToken" value="\([^"]*\)".*/\1/p' | head -1)"
[[ -n "$antiforgery" ]] || { echo "no login form in the answer to $authorize" >&2; exit 1; }
back="$(curl -sS -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
    --data-urlencode "__RequestVerificationToken=$antiforgery" --data-urlencode "returnUrl=$authorize" \
    --data-urlencode "email=$email" --data-urlencode "password=$password" "$issuer/account/login")"
callback="$(curl -sS -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" "$back")"
code="$(printf '%s' "$callback" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')"
returned_state="$(printf '%s' "$callback" | sed -n 's/.*[?&]state=\([^&]*\).*/\1/p')"
if [[ -z "$code" || "$returned_state" != "$state" ]]; then
    echo "no code, or a wrong state, in the redirect to ${callback%%\?*}" >&2
    exit 1
fi

step "5. redeem the code with the PKCE verifier"
tokens="$(curl -sS --fail-with-body -d grant_type=authorization_code -d "client_id=$client_id" \
    --data-urlencode "redirect_uri=$redirect_uri" --data-urlencode "code=$code" -d "code_verifier=$verifier" \
    "$issuer/connect/token")"
access_token="$(printf '%s' "$tokens" | json_field access_token)"
need "access token" "$access_token"

step "6. userinfo with the access token"
curl -sS --fail-with-body -H "Authorization: Bearer $access_token" "$issuer/connect/userinfo"
echo
step "signed in as $email through client $client_id"
