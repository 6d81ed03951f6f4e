// Login and consent interaction pages (the library's devInteractions accept any password).
//   GET  /interaction/:uid          login or consent form, depending on the pending prompt
//   POST /interaction/:uid/login    username + password; a wrong one re-renders with 401
//   POST /interaction/:uid/confirm  grants the requested scopes and claims
//   POST /interaction/:uid/abort    access_denied

import { timingSafeEqual, createHash } from 'node:crypto';

import { consentPage, errorPage, loginPage } from './pages.mjs';

const MAX_BODY = 16 * 1024;
const ROUTE = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

function readForm(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function sameSecret(given, expected) {
  const a = createHash('sha256').update(String(given)).digest();
  const b = createHash('sha256').update(String(expected)).digest();
  return timingSafeEqual(a, b);
}

export function interactionRoutes(provider, users, log, password) {
  const userBySub = new Map([...users.values()].map((user) => [user.sub, user]));

  function html(ctx, status, body) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  }

  async function show(ctx, details) {
    const { uid, prompt, params } = details;
    if (prompt.name === 'login') {
      html(ctx, 200, loginPage({ uid, clientId: params.client_id }));
      return;
    }
    const user = userBySub.get(details.session?.accountId);
    html(ctx, 200, consentPage({
      uid,
      clientId: params.client_id,
      username: user?.username ?? '?',
      scopes: String(params.scope ?? '').split(' ').filter(Boolean),
    }));
  }

  async function login(ctx, details) {
    const form = await readForm(ctx.req);
    const username = form.get('username') ?? '';
    const user = users.get(username);
    // Compare the password even for an unknown user, so both failures look the same.
    const passwordOk = sameSecret(form.get('password') ?? '', password);
    if (details.prompt.name !== 'login') {
      html(ctx, 400, errorPage('This sign-in step is already complete.'));
      return;
    }
    if (!user || !passwordOk) {
      log(`login failed for ${JSON.stringify(username.slice(0, 64))}`);
      html(ctx, 401, loginPage({
        uid: details.uid,
        clientId: details.params.client_id,
        username,
        error: 'Invalid username or password.',
      }));
      return;
    }
    log(`login ok for ${username}`);
    await finish(ctx, { login: { accountId: user.sub } });
  }

  async function confirm(ctx, details) {
    await readForm(ctx.req);
    if (details.prompt.name !== 'consent') {
      html(ctx, 400, errorPage('Sign in first.'));
      return;
    }
    const { accountId } = details.session;
    const clientId = details.params.client_id;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await finish(ctx, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
  }

  async function abort(ctx) {
    await readForm(ctx.req);
    await finish(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' });
  }

  async function finish(ctx, result, { mergeWithLastSubmission = false } = {}) {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission,
    });
    ctx.redirect(returnTo);
    ctx.status = 303;
  }

  return async function interactions(ctx, next) {
    const match = ROUTE.exec(ctx.path);
    if (!match) {
      await next();
      return;
    }
    const [, uid, action] = match;
    const expected = action ? 'POST' : 'GET';
    if (ctx.method !== expected) {
      ctx.set('allow', expected);
      html(ctx, 405, errorPage('Method not allowed.'));
      return;
    }
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      if (details.uid !== uid) {
        html(ctx, 400, errorPage('This sign-in request is not the current one.'));
        return;
      }
      const handler = { show, login, confirm, abort }[action ?? 'show'];
      await handler(ctx, details);
    } catch (err) {
      log(`interaction error: ${err.name}: ${err.message}`);
      html(ctx, err.status ?? 400, errorPage('The sign-in request is invalid or has expired.'));
    }
  };
}
