'use strict';
// Tag "OAuth Endpoints": Authorize, GetToken, RevokeAccess, GetTokenInfo. The partner is
// registered the operator's way (`sunbeam oauth-clients create`); the account owner's
// consent is the server's HTML form.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, expectError, unique } = require('../lib/harness');

const ctx = useServer();
const REDIRECT = 'https://partner.example/callback';

describe('OAuth for partners', () => {
  let app, key, clientId, clientSecret;

  before(async () => {
    app = await ctx.createApp();
    key = await ctx.createAppKey(app.id);
    clientId = unique('partner');
    const out = ctx.cli(['oauth-clients', 'create', '--client-id', clientId, '--name', 'Partner Bot', '--redirect-uri', REDIRECT]);
    clientSecret = /client_secret:\s*(\S+)/.exec(out)[1];
    assert.match(ctx.cli(['oauth-clients', 'list']), new RegExp(clientId));
  });

  /** The owner allows the partner for `app` on the consent page; returns the code. */
  async function approve(state = 'st8') {
    const res = await ctx.http('POST', '/oauth/consent', {
      form: { client_id: clientId, redirect_uri: REDIRECT, state, app_id: app.id, key_id: key.id, key_secret: key.secret, decision: 'allow' },
    });
    assert.equal(res.status, 302, res.text);
    const location = new URL(res.headers.get('location'));
    assert.equal(location.origin + location.pathname, REDIRECT);
    assert.equal(location.searchParams.get('state'), state);
    return location.searchParams.get('code');
  }

  async function token() {
    const { data, response } = await ctx.api.oauth.getTokenWithHttpInfo({ code: await approve(), grant_type: 'authorization_code', client_id: clientId, client_secret: clientSecret });
    assert.equal(response.status, 200);
    assert.equal(data.token_type, 'Bearer');
    return data.access_token;
  }

  test('Authorize: 302 to the consent page, which names the partner', async () => {
    const raw = await ctx.http('GET', `/oauth/authorize?response_type=code&client_id=${encodeURIComponent(clientId)}&state=abc`);
    assert.equal(raw.status, 302);
    assert.match(raw.headers.get('location'), /^\/oauth\/consent\?/);
    assert.match(raw.text, /^Found\. Redirecting to /);
    // The client follows the redirect, as a browser would.
    const { response } = await ctx.api.oauth.authorizeWithHttpInfo(clientId, 'code', { state: 'abc' });
    assert.equal(response.status, 200);
    assert.match(response.text, /Partner Bot/);
    assert.match(response.text, /name="state" value="abc"/);
  });

  test('Authorize: an unknown client or redirect URI is answered here, never redirected', async () => {
    for (const q of [`client_id=${unique('nobody')}`, `client_id=${encodeURIComponent(clientId)}&redirect_uri=${encodeURIComponent('https://evil.example/')}`]) {
      const res = await ctx.http('GET', `/oauth/authorize?response_type=code&${q}`);
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
    }
  });

  test('the owner may deny, and wrong credentials get no code', async () => {
    const denied = await ctx.http('POST', '/oauth/consent', { form: { client_id: clientId, state: 's', decision: 'deny' } });
    assert.equal(denied.status, 302);
    assert.equal(new URL(denied.headers.get('location')).searchParams.get('error'), 'access_denied');
    const wrong = await ctx.http('POST', '/oauth/consent', { form: { client_id: clientId, app_id: app.id, key_id: key.id, key_secret: 'wrong', decision: 'allow' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('location'), null);
  });

  test('GetToken: a code once, for the partner credentials only', async () => {
    const code = await approve();
    await expectError(ctx.api.oauth.getToken({ code, grant_type: 'authorization_code', client_id: clientId, client_secret: 'nope' }), 401, 'invalid_client');
    await expectError(ctx.api.oauth.getToken({ code, grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }), 400, 'unsupported_grant_type');
    const body = new SC.InlineObject(code, 'authorization_code', clientId, clientSecret);
    const { data, response } = await ctx.api.oauth.getTokenWithHttpInfo(body);
    assert.equal(response.status, 200);
    assert.equal(typeof data.access_token, 'string');
    await expectError(ctx.api.oauth.getToken({ code, grant_type: 'authorization_code', client_id: clientId, client_secret: clientSecret }), 400, 'invalid_grant');
  });

  test('the token is integration-scoped: users and its own webhooks, not the app', async () => {
    const partner = ctx.as({ bearer: await token() });
    const { response } = await partner.users.createUserWithHttpInfo(app.id, { externalId: unique('partner-user') });
    assert.equal(response.status, 201);
    const hook = SC.WebhookCreateBody.constructFromObject({ target: 'https://partner.example/hook', triggers: ['conversation:message'] });
    const created = await partner.webhooks.createWebhookWithHttpInfo(app.id, 'me', hook);
    assert.equal(created.response.status, 201);
    await expectError(partner.apps.getApp(app.id), 403, 'forbidden');
    const { integrations } = await ctx.api.integrations.listIntegrations(app.id);
    assert.ok(integrations.some((i) => i.type === clientId), 'the owner sees the partner integration, typed by its client id');
  });

  test('GetTokenInfo: the app of an OAuth token, an app key and its JWT', async () => {
    const credentials = [{ bearer: await token() }, { basic: key }];
    for (const auth of credentials) {
      const { data, response } = await ctx.raw('GET', '/v2/tokenInfo', {}, ctx.as(auth));
      assert.equal(response.status, 200);
      assert.equal(data.app.id, app.id);
      // No subdomain (the spec types it as a string): a self-hosted app has none.
      assert.ok(!('subdomain' in data.app) || data.app.subdomain === undefined);
    }
    const { data } = await ctx.raw('GET', '/v2/tokenInfo', {}, ctx.asJwt(key, 'app'));
    assert.equal(data.app.id, app.id);
    await expectError(ctx.raw('GET', '/v2/tokenInfo'), 400, 'bad_request');
    await expectError(ctx.raw('GET', '/v2/tokenInfo', {}, ctx.as({})), 401, 'unauthorized');
  });

  test('RevokeAccess: the integration goes with its webhooks, and its token stops working', async () => {
    const accessToken = await token();
    const partner = ctx.as({ bearer: accessToken });
    await expectError(ctx.asKey(key).oauth.revokeAccess(), 403, 'forbidden');
    const { response } = await partner.oauth.revokeAccessWithHttpInfo();
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(ctx.raw('GET', '/v2/tokenInfo', {}, partner), 401, 'unauthorized');
    const { integrations } = await ctx.api.integrations.listIntegrations(app.id);
    assert.ok(!integrations.some((i) => i.type === clientId));
  });
});
