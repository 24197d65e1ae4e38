// The passkey controls (WebAuthn): registration on the account page, sign-in and second factor on the sign-in pages.
// Progressive enhancement: every control is rendered hidden and shown here only when the browser can use passkeys,
// so without script (or without WebAuthn) the pages work as before. No inline script, no eval: the page CSP allows
// this file and nothing else.
"use strict";

(function () {
  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4 !== 0) {
      base64 += "=";
    }
    var text = atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) {
      bytes[i] = text.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64Url(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) {
      text += String.fromCharCode(bytes[i]);
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function antiforgeryToken(control) {
    var field = control.querySelector("input[name='__RequestVerificationToken']")
      || document.querySelector("input[name='__RequestVerificationToken']");
    return field ? field.value : "";
  }

  function post(control, url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "RequestVerificationToken": antiforgeryToken(control) },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () {
        return { error: "failed", message: control.getAttribute("data-failed-message") };
      }).then(function (json) {
        json.ok = response.ok;
        return json;
      });
    });
  }

  function showError(control, message) {
    var alert = control.querySelector("[data-passkey-error]");
    if (alert) {
      alert.textContent = message || control.getAttribute("data-failed-message");
      alert.hidden = false;
      alert.focus();
    }
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).forEach(function (item) { item.id = toBytes(item.id); });
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    (options.allowCredentials || []).forEach(function (item) { item.id = toBytes(item.id); });
    return options;
  }

  function register(control) {
    var nameField = control.querySelector("input[name='name']");
    return post(control, control.getAttribute("data-options")).then(function (begun) {
      if (!begun.ok) {
        throw begun;
      }
      return navigator.credentials.create({ publicKey: creationOptions(begun.options) }).then(function (credential) {
        return post(control, control.getAttribute("data-finish"), {
          state: begun.state,
          name: nameField ? nameField.value : "",
          credential: {
            id: credential.id,
            rawId: toBase64Url(credential.rawId),
            type: credential.type,
            clientExtensionResults: credential.getClientExtensionResults(),
            response: {
              attestationObject: toBase64Url(credential.response.attestationObject),
              clientDataJSON: toBase64Url(credential.response.clientDataJSON),
              transports: credential.response.getTransports ? credential.response.getTransports() : []
            }
          }
        });
      });
    });
  }

  function assert(control) {
    return post(control, control.getAttribute("data-options")).then(function (begun) {
      if (!begun.ok) {
        throw begun;
      }
      return navigator.credentials.get({ publicKey: requestOptions(begun.options) }).then(function (credential) {
        return post(control, control.getAttribute("data-finish"), {
          state: begun.state,
          returnUrl: control.getAttribute("data-return-url"),
          credential: {
            id: credential.id,
            rawId: toBase64Url(credential.rawId),
            type: credential.type,
            clientExtensionResults: credential.getClientExtensionResults(),
            response: {
              authenticatorData: toBase64Url(credential.response.authenticatorData),
              clientDataJSON: toBase64Url(credential.response.clientDataJSON),
              signature: toBase64Url(credential.response.signature),
              userHandle: toBase64Url(credential.response.userHandle)
            }
          }
        });
      });
    });
  }

  function run(control, ceremony) {
    var button = control.querySelector("button");
    if (button) {
      button.disabled = true;
    }
    ceremony(control).then(function (done) {
      if (done.ok && typeof done.redirect === "string" && done.redirect.charAt(0) === "/" && done.redirect.charAt(1) !== "/") {
        var target = new URL(done.redirect, window.location.href);
        if (target.pathname === window.location.pathname && target.search === window.location.search) {
          // The same page (the account page's own section): a new hash alone would not load it again.
          window.location.hash = target.hash;
          window.location.reload();
        } else {
          window.location.assign(target.href);
        }
        return;
      }
      throw done;
    }).catch(function (failure) {
      // A person who closes the browser's passkey dialog gets the same short message as any other failure.
      showError(control, failure && failure.message);
    }).then(function () {
      if (button) {
        button.disabled = false;
      }
    });
  }

  function start() {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      return;
    }
    document.querySelectorAll("[data-passkey]").forEach(function (control) {
      var kind = control.getAttribute("data-passkey");
      var ceremony = kind === "register" ? register : assert;
      control.hidden = false;
      document.querySelectorAll("[data-passkey-fallback]").forEach(function (note) { note.hidden = true; });
      if (control.tagName === "FORM") {
        control.addEventListener("submit", function (event) {
          event.preventDefault();
          run(control, ceremony);
        });
      } else {
        control.querySelector("button").addEventListener("click", function () { run(control, ceremony); });
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
