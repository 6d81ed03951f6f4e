// Local OIDC provider for kubectl-scipian's tests (test-only; never expose it).
//
// Environment:
//   IDP_PASSWORD           required; the one password of every test user
//   IDP_PORT               port on 127.0.0.1 (default 0: any free port)
//   IDP_CLIENT_ID          the plugin's public client id (default kubectl-scipian)
//   IDP_ID_TOKEN_TTL       seconds (default 3600)
//   IDP_ACCESS_TOKEN_TTL   seconds (default 3600)
//   IDP_REFRESH_TOKEN_TTL  seconds (default 86400)
//   IDP_DEVICE_CODE_TTL    seconds (default 600)
//   IDP_DEVICE_INTERVAL    seconds, the device flow's polling interval (default 1)
//   IDP_ADMIN_SECRET       enables the admin routes, sent back in the X-Admin-Secret header
//   IDP_EXTRA_USERS        N: also user001..userN (no groups), for tests that need many users
//   IDP_READY_FILE         the issuer is written there (atomically) once listening
//   IDP_UI_CLIENT_ID       the dashboard's confidential client (the backend's /ui/), with
//   IDP_UI_CLIENT_SECRET   its secret (required with a client id) and
//   IDP_UI_REDIRECT_URIS   its redirect URIs, comma-separated (<backend>/ui/callback)
//
// Once listening it prints one line `READY <issuer>` on stdout; logs go to stderr.
// Admin routes (test-only key rotation), each answering {"kids": [...], "signing_kid": ...}:
//   GET  /admin/keys    the current key ids, newest (signing) first
//   POST /admin/rotate  add a new signing key; older ones stay published for verification
//   POST /admin/retire  drop every key but the newest
//   POST /admin/ui-redirect-uris?uri=U  also accept U as the dashboard client's redirect URI
//                       (a test's own backend on a port of its own)

import './quiet.mjs';

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { MapStore } from './adapter.mjs';
import { buildProvider, newSigningKey } from './provider.mjs';

function log(message) {
  process.stderr.write(`idp: ${message}\n`);
}

function fail(message) {
  log(`error: ${message}`);
  process.exit(2);
}

function seconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) fail(`${name} must be a positive integer`);
  return value;
}

function readSettings() {
  const password = process.env.IDP_PASSWORD;
  if (!password) fail('IDP_PASSWORD is required');
  if (process.env.IDP_UI_CLIENT_ID && !process.env.IDP_UI_CLIENT_SECRET) {
    fail('IDP_UI_CLIENT_SECRET is required with IDP_UI_CLIENT_ID');
  }
  const port = Number(process.env.IDP_PORT ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('IDP_PORT must be a port number');
  return {
    password,
    port,
    clientId: process.env.IDP_CLIENT_ID || 'kubectl-scipian',
    idTokenTtl: seconds('IDP_ID_TOKEN_TTL', 3600),
    accessTokenTtl: seconds('IDP_ACCESS_TOKEN_TTL', 3600),
    refreshTokenTtl: seconds('IDP_REFRESH_TOKEN_TTL', 86400),
    deviceCodeTtl: seconds('IDP_DEVICE_CODE_TTL', 600),
    deviceInterval: seconds('IDP_DEVICE_INTERVAL', 1),
    adminSecret: process.env.IDP_ADMIN_SECRET || '',
    readyFile: process.env.IDP_READY_FILE || '',
    uiClientId: process.env.IDP_UI_CLIENT_ID || '',
    uiClientSecret: process.env.IDP_UI_CLIENT_SECRET || '',
    uiRedirectUris: (process.env.IDP_UI_REDIRECT_URIS || '').split(',').filter(Boolean),
  };
}

function writeAtomically(path, text) {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, path);
}

function digest(value) {
  return createHash('sha256').update(String(value)).digest();
}

function sendJson(res, status, body) {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function main() {
  const settings = readSettings();
  const store = new MapStore();
  const cookieKeys = [randomBytes(32).toString('hex')];
  let keys = [];
  let handler = null;
  let issuer = '';

  setInterval(() => store.sweep(), 60_000).unref();

  function install(newKeys) {
    const provider = buildProvider({ issuer, keys: newKeys, store, cookieKeys, settings, log });
    keys = newKeys;
    handler = provider.callback();
  }

  function keyState() {
    return { kids: keys.map((key) => key.kid), signing_kid: keys[0]?.kid ?? null };
  }

  function admin(req, res, path) {
    const given = req.headers['x-admin-secret'];
    if (!settings.adminSecret || typeof given !== 'string'
      || !timingSafeEqual(digest(given), digest(settings.adminSecret))) {
      sendJson(res, 404, { error: 'not_found' });
      return;
    }
    if (`${req.method} ${path}` === 'POST /admin/ui-redirect-uris') {
      req.resume();
      const uri = new URL(req.url, issuer).searchParams.get('uri') ?? '';
      if (!/^http:\/\/127\.0\.0\.1:\d+\/ui\/callback$/.test(uri)) {
        sendJson(res, 400, { error: 'invalid_redirect_uri' });
        return;
      }
      if (!settings.uiRedirectUris.includes(uri)) settings.uiRedirectUris.push(uri);
      install(keys);
      log(`dashboard redirect URIs now ${settings.uiRedirectUris.join(', ')}`);
      sendJson(res, 200, { redirect_uris: settings.uiRedirectUris });
      return;
    }
    const routes = {
      'GET /admin/keys': () => keys,
      'POST /admin/rotate': () => [newSigningKey(), ...keys],
      'POST /admin/retire': () => keys.slice(0, 1),
    };
    const route = routes[`${req.method} ${path}`];
    if (!route) {
      sendJson(res, 404, { error: 'not_found' });
      return;
    }
    req.resume();
    const next = route();
    if (next !== keys) {
      install(next);
      log(`${path.slice(7)}: keys now ${next.map((key) => key.kid).join(', ')}`);
    }
    sendJson(res, 200, keyState());
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path.startsWith('/admin/')) {
      admin(req, res, path);
    } else if (handler) {
      handler(req, res);
    } else {
      sendJson(res, 503, { error: 'starting' });
    }
  });

  server.on('error', (err) => fail(`listen: ${err.message}`));
  server.listen(settings.port, '127.0.0.1', () => {
    issuer = `http://127.0.0.1:${server.address().port}`;
    install([newSigningKey()]);
    if (settings.readyFile) writeAtomically(settings.readyFile, `${issuer}\n`);
    log(`listening; issuer ${issuer}; client ${settings.clientId}; signing kid ${keys[0].kid}`);
    process.stdout.write(`READY ${issuer}\n`);
  });

  function shutdown(signal) {
    log(`${signal}: shutting down`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main();
