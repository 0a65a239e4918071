// A real OpenID Provider (the certified npm package oidc-provider) for the test suite.
//
// Started by tests/oidc_fixtures.py as `node tests/oidc/server.mjs` with:
//   OIDC_ACCOUNTS  JSON {login: {claims...}}: the people the provider knows
//   OIDC_CLIENTS   JSON [{client_id, client_secret}]: the relying parties it accepts
// It listens on a free port of 127.0.0.1 and prints `READY <issuer>` once it serves.
//
// Sign-in uses oidc-provider's own login form (devInteractions: any password), consent is
// granted at once for the requested scopes (the school's ENT does not ask its users either).
//
// POST /__test/mode?value=... makes the next token responses misbehave, to test the relying
// party's checks: "expired" (the provider's clock is two hours late while it issues tokens),
// "forged" (the ID token is signed by a key that is not in the published JWKS),
// "wrong_aud" (the ID token names another client as its audience), "normal".
import http from 'node:http';

import { Provider } from 'oidc-provider';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';

const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');
const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');

const realNow = Date.now.bind(Date);
let clockOffsetMs = 0;
Date.now = () => realNow() + clockOffsetMs;

let mode = 'normal';

async function signingKey(kid) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { key: privateKey, jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

const real = await signingKey('passerelle-test-key');
const foreign = await signingKey('passerelle-test-key'); // same kid, other key: a forgery

const server = http.createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: [real.jwk] },
  cookies: { keys: ['passerelle-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'ine', 'ent_id'],
  },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name', 'given_name',
      'family_name', 'ine', 'ent_id']);
    await grant.save();
    return grant;
  },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
});

// Every relying party of the suite runs on a loopback address with a port chosen at random
// (the Flask test client is http://localhost): accept their callbacks on any port.
provider.Client.prototype.redirectUriAllowed = (value) => {
  const url = new URL(value);
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(url.hostname);
};

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode' && ctx.method === 'POST') {
    mode = ctx.query.value || 'normal';
    ctx.body = { mode };
    return;
  }
  const isToken = ctx.path === '/token';
  if (isToken && mode === 'expired') clockOffsetMs = -2 * 3600 * 1000;
  try {
    await next();
  } finally {
    clockOffsetMs = 0;
  }
  if (isToken && ctx.status === 200 && ctx.body?.id_token && ['forged', 'wrong_aud'].includes(mode)) {
    const claims = decodeJwt(ctx.body.id_token);
    const key = mode === 'forged' ? foreign.key : real.key;
    if (mode === 'wrong_aud') claims.aud = 'autre-application';
    ctx.body = {
      ...ctx.body,
      id_token: await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: real.jwk.kid })
        .sign(key),
    };
  }
});

server.on('request', provider.callback());
process.stdout.write(`READY ${issuer}\n`);
