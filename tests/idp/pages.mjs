// Plain HTML pages: the login and consent interactions and the device-flow pages. No
// scripts and no external assets; every form has an id so a test driver can find it.

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}

export function loginPage({ uid, clientId, username = '', error = '' }) {
  const message = error ? `<p class="error" id="error">${escapeHtml(error)}</p>` : '';
  return page('Sign in', `<p>Sign in to continue to <strong>${escapeHtml(clientId)}</strong>.</p>
${message}
<form id="login" method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label>Username <input type="text" name="username" value="${escapeHtml(username)}" autofocus></label>
  <label>Password <input type="password" name="password"></label>
  <button type="submit">Sign in</button>
</form>
<form id="abort" method="post" action="/interaction/${escapeHtml(uid)}/abort">
  <button type="submit">Cancel</button>
</form>`);
}

export function consentPage({ uid, clientId, username, scopes }) {
  const items = scopes.map((scope) => `<li>${escapeHtml(scope)}</li>`).join('');
  return page('Authorize', `<p><strong>${escapeHtml(clientId)}</strong> asks for access to the account
<strong>${escapeHtml(username)}</strong>:</p>
<ul id="scopes">${items}</ul>
<form id="consent" method="post" action="/interaction/${escapeHtml(uid)}/confirm">
  <button type="submit">Allow</button>
</form>
<form id="abort" method="post" action="/interaction/${escapeHtml(uid)}/abort">
  <button type="submit">Deny</button>
</form>`);
}

export function errorPage(message) {
  return page('Error', `<p class="error" id="error">${escapeHtml(message)}</p>`);
}

// features.deviceFlow.userCodeInputSource: `form` is built by the library (id
// op.deviceInputForm, hidden xsrf, text input user_code).
export async function codeInputPage(ctx, form, _out, err) {
  let message = 'Enter the code displayed on your device.';
  if (err && (err.userCode || err.name === 'NoCodeError')) {
    message = 'The code you entered is incorrect. Try again.';
  } else if (err && err.name === 'AbortedError') {
    message = 'The sign-in request was cancelled.';
  } else if (err) {
    message = 'There was an error processing your request.';
  }
  ctx.type = 'html';
  ctx.body = page('Device sign-in', `<p id="message">${escapeHtml(message)}</p>
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
}

// features.deviceFlow.userCodeConfirmSource: `form` has id op.deviceConfirmForm.
export async function codeConfirmPage(ctx, form, client, _deviceInfo, userCode) {
  ctx.type = 'html';
  ctx.body = page('Confirm device', `<p><strong>${escapeHtml(client.clientId)}</strong> shows the code
<code id="user_code">${escapeHtml(userCode)}</code>. Continue only if it matches.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>`);
}

// features.deviceFlow.successSource
export async function deviceSuccessPage(ctx) {
  ctx.type = 'html';
  ctx.body = page('Sign-in complete', '<p id="success">You are signed in. You can close this page.</p>');
}
