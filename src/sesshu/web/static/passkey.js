// Passkey ceremonies (WebAuthn) for the sign-in, re-authentication and registration pages.
// A button with data-passkey="get" or "create" fetches options from data-options-url, asks the
// browser's authenticator (user verification required by the server) and posts the answer to
// data-verify-url together with the page's data-passkey-field inputs. Served by sesshu; no inline script.
(function () {
  "use strict";

  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var input = document.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  function showMessage(text) {
    var box = document.querySelector("[data-passkey-messages]");
    if (!box) { return; }
    box.textContent = "";
    if (!text) { return; }
    var p = document.createElement("p");
    p.className = "msg error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    box.appendChild(p);
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken()},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) { return data; }
        var error = (data && data.error) || {};
        if (error.code === "E_REAUTH_REQUIRED" && error.reauth_url) {
          window.location.assign(error.reauth_url);
        }
        throw new Error(error.message || "処理できませんでした。画面を開き直してからもう一度お試しください");
      });
    });
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return {publicKey: o};
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return {publicKey: o};
  }

  function credentialJSON(cred) {
    var r = cred.response, response = {clientDataJSON: toB64url(r.clientDataJSON)};
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) { response.userHandle = toB64url(r.userHandle); }
    }
    return {id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: response,
            authenticatorAttachment: cred.authenticatorAttachment || null, clientExtensionResults: {}};
  }

  function fields() {
    var out = {};
    document.querySelectorAll("[data-passkey-field]").forEach(function (el) {
      out[el.getAttribute("data-passkey-field")] = el.value;
    });
    return out;
  }

  function run(button) {
    var kind = button.getAttribute("data-passkey");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showMessage("このブラウザーはパスキーに対応していません");
      return;
    }
    var extra = fields();
    if ("password" in extra && !extra.password) {
      showMessage("パスワードを入力してください");
      return;
    }
    button.disabled = true;
    showMessage("");
    post(button.getAttribute("data-options-url")).then(function (options) {
      return kind === "create" ? navigator.credentials.create(creationOptions(options))
                               : navigator.credentials.get(requestOptions(options));
    }).then(function (cred) {
      var body = fields();
      body.credential = credentialJSON(cred);
      return post(button.getAttribute("data-verify-url"), body);
    }).then(function (result) {
      window.location.assign(result.redirect || "/");
    }).catch(function (err) {
      button.disabled = false;
      var name = err && err.name;
      if (name === "NotAllowedError") {
        showMessage("本人確認が取り消されたか、時間切れになりました。もう一度お試しください");
      } else if (name === "InvalidStateError") {
        showMessage("この端末のパスキーは既に登録されています");
      } else if (name === "Error" && err.message) {
        showMessage(err.message);  // the server's Japanese message
      } else {
        showMessage("この端末ではパスキーを使えませんでした（" + (name || "不明なエラー") + "）");
      }
    });
  }

  document.querySelectorAll("[data-passkey]").forEach(function (button) {
    button.addEventListener("click", function () { run(button); });
  });
}());
