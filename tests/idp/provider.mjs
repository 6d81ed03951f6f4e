// Builds an oidc-provider Provider for the test stack. Called once at start and again on each
// key rotation; every instance shares the same storage adapter and cookie keys.

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

import { mapAdapterFactory } from './adapter.mjs';
import { interactionRoutes } from './interactions.mjs';
import { codeInputPage, codeConfirmPage, deviceSuccessPage, escapeHtml } from './pages.mjs';

const USER_GROUPS = {
  alice: ['team-a'],
  bob: ['team-b'],
  carol: ['platform-admins'],
  dave: ['platform-admins', 'release-managers'],
  mallory: [],
};
// IDP_EXTRA_USERS=N adds user001..userN, with no groups: identities that tests grant,
// revoke and race on without disturbing the five named users.
const extraUsers = Number(process.env.IDP_EXTRA_USERS ?? '0');
for (let i = 1; Number.isInteger(extraUsers) && i <= Math.min(extraUsers, 999); i += 1) {
  USER_GROUPS[`user${String(i).padStart(3, '0')}`] = [];
}

// A stable, opaque subject per user (the same across runs), so nothing can confuse `sub`
// with the user name or the email.
function subjectFor(username) {
  return createHash('sha256').update(`kubectl-scipian-test-idp:${username}`).digest('hex').slice(0, 32);
}

export const USERS = new Map(Object.entries(USER_GROUPS).map(([username, groups]) => [
  username,
  { username, sub: subjectFor(username), email: `${username}@example.test`, groups },
]));
const BY_SUB = new Map([...USERS.values()].map((user) => [user.sub, user]));

async function findAccount(_ctx, sub) {
  const user = BY_SUB.get(sub);
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email: user.email,
        email_verified: true,
        groups: [...user.groups],
      };
    },
  };
}

export function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
}

// The device authorization response of oidc-provider has no `interval`; RFC 8628 says the
// client must then poll every 5 s. Add a short one so tests stay fast.
function deviceInterval(seconds) {
  return async function addInterval(ctx, next) {
    await next();
    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object'
      && !('interval' in ctx.body)) {
      ctx.body = { ...ctx.body, interval: seconds };
    }
  };
}

// The library follows OIDC Core 11 strictly: `offline_access` is dropped from an authorization
// request whose `prompt` lacks `consent`, so no refresh token would come out of the code flow.
// Native clients here always see the consent page anyway, so add `consent` to the prompt of
// GET /auth requests that ask for offline_access (prompt=none is left alone).
async function keepOfflineAccess(ctx, next) {
  if (ctx.method === 'GET' && ctx.path === '/auth') {
    const params = new URLSearchParams(ctx.querystring);
    const scope = (params.get('scope') ?? '').split(' ');
    const prompt = (params.get('prompt') ?? '').split(' ').filter(Boolean);
    if (scope.includes('offline_access') && !prompt.includes('consent') && !prompt.includes('none')) {
      params.set('prompt', [...prompt, 'consent'].join(' '));
      ctx.querystring = params.toString();
    }
  }
  await next();
}

// The backend's dashboard (/ui/): a web application, so a confidential client with its
// secret, PKCE still required, and exact redirect URIs under the backend's own URL.
function dashboardClients(settings) {
  if (!settings.uiClientId) return [];
  return [{
    client_id: settings.uiClientId,
    client_secret: settings.uiClientSecret,
    application_type: 'web',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [...settings.uiRedirectUris],
    require_auth_time: true,
  }];
}

export function buildProvider({ issuer, keys, store, cookieKeys, settings, log }) {
  const provider = new Provider(issuer, {
    adapter: mapAdapterFactory(store),
    clients: [...dashboardClients(settings), {
      client_id: settings.clientId,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      // Every id_token carries auth_time (the library adds it otherwise only when the
      // request has max_age): step-up checks a login's age, and a token without it can
      // never pass, so the plugin must always be able to prove how old its login is.
      require_auth_time: true,
    }],
    responseTypes: ['code'],
    jwks: { keys },
    cookies: { keys: cookieKeys },
    findAccount,
    scopes: ['openid', 'email', 'groups', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && code.scopes.has('offline_access'),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: codeInputPage,
        userCodeConfirmSource: codeConfirmPage,
        successSource: deviceSuccessPage,
      },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    },
    ttl: {
      AccessToken: settings.accessTokenTtl,
      AuthorizationCode: 60,
      DeviceCode: settings.deviceCodeTtl,
      IdToken: settings.idTokenTtl,
      RefreshToken: settings.refreshTokenTtl,
      Interaction: 600,
      // A refresh token dies with its grant: keep grants at least as long.
      Session: Math.max(86400, settings.refreshTokenTtl),
      Grant: Math.max(86400, settings.refreshTokenTtl),
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Error</h1><p>${
        escapeHtml(out.error)}: ${escapeHtml(out.error_description ?? '')}</p></body></html>`;
    },
  });

  provider.use(deviceInterval(settings.deviceInterval));
  provider.use(keepOfflineAccess);
  provider.use(interactionRoutes(provider, USERS, log, settings.password));

  // Error detail for the test logs; never the token, code or password itself.
  for (const event of ['grant.error', 'server_error', 'authorization.error', 'introspection.error',
    'revocation.error', 'code_verification.error']) {
    provider.on(event, (_ctx, err) => {
      if (err.error === 'authorization_pending') return; // every device-flow poll
      const detail = err.error_detail ?? err.cause?.message;
      log(`${event}: ${err.error ?? err.name}: ${err.error_description ?? ''}${detail ? ` (${detail})` : ''}`);
    });
  }
  provider.on('grant.success', (ctx) => log(`grant.success: ${ctx.oidc.params.grant_type}`));
  return provider;
}
