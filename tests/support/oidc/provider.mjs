// A real OpenID Connect provider for crmdav's sign-in page tests (oidc-provider).
//
// Environment: OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URIS (comma
// separated), OIDC_USERS (JSON: {"<login>": {"email": "...", "email_verified": true}}).
// The login page is a plain form: one field, the login name of a user above (no password).
// Submitting it logs that user in and grants the client `openid email` at once, so a test over
// HTTP posts one form and a browser fills in one field.
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const users = JSON.parse(process.env.OIDC_USERS || '{}');
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID,
    client_secret: process.env.OIDC_CLIENT_SECRET,
    redirect_uris: process.env.OIDC_REDIRECT_URIS.split(','),
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // The ID token carries the email (the relying party reads no userinfo).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['crmdav-test-only-cookie-key'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const u = users[sub];
    if (!u) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: u.email, email_verified: u.email_verified ?? true };
      },
    };
  },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}

provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([A-Za-z0-9_-]+)$/);
  if (!m) return next();
  ctx.set('Cache-Control', 'no-store');
  if (ctx.method === 'GET') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><title>Test identity provider</title></head>
<body><main><h1>Test identity provider</h1>
<form method="post" action="/interaction/${esc(details.uid)}">
<label for="login">Login</label> <input id="login" name="login" autofocus>
<button type="submit" id="submit">Sign in</button></form></main></body></html>`;
    return;
  }
  if (ctx.method === 'POST') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const form = await formBody(ctx.req);
    const login = form.get('login') || '';
    let result;
    if (form.get('deny')) {
      result = { error: 'access_denied', error_description: 'the user said no' };
    } else if (!users[login]) {
      ctx.status = 400;
      ctx.body = 'unknown login';
      return;
    } else {
      const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
      grant.addOIDCScope('openid email');
      const grantId = await grant.save();
      result = { login: { accountId: login }, consent: { grantId } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
    return;
  }
  throw new errors.InvalidRequest('method not allowed');
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
