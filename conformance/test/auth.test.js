'use strict';
// Authentication (spec §1), through the client's basicAuth and bearerAuth: what every tag
// relies on. Per-tag scope checks live in each tag's file.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const jwt = require('jsonwebtoken');
const { useServer, expectError, signJwt, unknownId } = require('../lib/harness');

const ctx = useServer();

describe('Basic auth', () => {
  test('the account key lists apps', async () => {
    const { response } = await ctx.api.apps.listAppsWithHttpInfo();
    assert.equal(response.status, 200);
  });

  test('401 unauthorized without credentials', async () => {
    const err = await expectError(ctx.as({}).apps.listApps(), 401, 'unauthorized');
    assert.equal(typeof err.body.errors[0].title, 'string');
  });

  test('401 with a wrong secret', async () => {
    await expectError(ctx.as({ basic: { id: ctx.account.id, secret: ctx.account.secret + 'x' } }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 with an unknown key id', async () => {
    await expectError(ctx.as({ basic: { id: 'act_' + unknownId(), secret: ctx.account.secret } }).apps.listApps(), 401, 'unauthorized');
    await expectError(ctx.as({ basic: { id: 'app_' + unknownId(), secret: ctx.account.secret } }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 with an empty secret', async () => {
    await expectError(ctx.as({ basic: { id: ctx.account.id, secret: '' } }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 with a malformed Authorization header', async () => {
    const noAuth = ctx.as({});
    await expectError(ctx.raw('GET', '/v2/apps', { headers: { Authorization: 'Basic !!!notbase64' } }, noAuth), 401, 'unauthorized');
    await expectError(ctx.raw('GET', '/v2/apps', { headers: { Authorization: 'Digest abc' } }, noAuth), 401, 'unauthorized');
  });
});

describe('JWT (bearerAuth)', () => {
  let app;
  let appKey;
  before(async () => {
    app = await ctx.createApp();
    appKey = await ctx.createAppKey(app.id);
  });

  test('an account-scoped token signed by the account key', async () => {
    const api = ctx.asJwt(ctx.account, 'account');
    const { response } = await api.apps.listAppsWithHttpInfo();
    assert.equal(response.status, 200);
    const created = await api.apps.createAppWithHttpInfo({ displayName: 'made with a JWT' });
    assert.equal(created.response.status, 201);
  });

  test('an app-scoped token signed by an app key', async () => {
    const api = ctx.asJwt(appKey, 'app');
    const got = await api.apps.getApp(app.id);
    assert.equal(got.app.id, app.id);
    await expectError(api.apps.listApps(), 403, 'forbidden');
  });

  test('a token with exp in the future is accepted', async () => {
    const api = ctx.asJwt(ctx.account, 'account', { expiresIn: 60 });
    await api.apps.listApps();
  });

  test('401 for an expired token', async () => {
    const token = signJwt(ctx.account, 'account', { payload: { exp: Math.floor(Date.now() / 1000) - 60 } });
    await expectError(ctx.as({ bearer: token }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 for a token signed with the wrong secret', async () => {
    const token = signJwt({ id: ctx.account.id, secret: 'not-the-right-secret-at-all' }, 'account');
    await expectError(ctx.as({ bearer: token }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 for a token naming an unknown kid', async () => {
    const token = signJwt({ id: 'act_' + unknownId(), secret: ctx.account.secret }, 'account');
    await expectError(ctx.as({ bearer: token }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 for a token without kid', async () => {
    const token = jwt.sign({ scope: 'account' }, ctx.account.secret, { algorithm: 'HS256' });
    await expectError(ctx.as({ bearer: token }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 for an unsigned token (alg none)', async () => {
    const token = jwt.sign({ scope: 'account' }, null, { algorithm: 'none', header: { kid: ctx.account.id } });
    await expectError(ctx.as({ bearer: token }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 for a token with another algorithm (HS512)', async () => {
    const token = signJwt(ctx.account, 'account', { algorithm: 'HS512' });
    await expectError(ctx.as({ bearer: token }).apps.listApps(), 401, 'unauthorized');
  });

  test('401 for a token without scope or with a scope its key cannot grant', async () => {
    const noScope = jwt.sign({}, ctx.account.secret, { algorithm: 'HS256', header: { kid: ctx.account.id } });
    await expectError(ctx.as({ bearer: noScope }).apps.listApps(), 401, 'unauthorized');
    // An app key cannot mint an account token.
    await expectError(ctx.asJwt(appKey, 'account').apps.listApps(), 401, 'unauthorized');
  });

  test('user-scoped tokens are refused on /v2', async () => {
    const token = signJwt(appKey, 'user', { payload: { external_id: 'someone' } });
    // The spec does not say which of 401/403 a valid but SDK-only token gets on /v2.
    const err = await expectError(ctx.as({ bearer: token }).apps.getApp(app.id), [401, 403]);
    assert.ok(['unauthorized', 'forbidden'].includes(err.body.errors[0].code));
  });

  test('401 for garbage', async () => {
    await expectError(ctx.as({ bearer: 'not.a.jwt' }).apps.listApps(), 401, 'unauthorized');
  });
});
