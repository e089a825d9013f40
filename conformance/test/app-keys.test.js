'use strict';
// Tag "App Keys": CreateAppKey, ListAppKeys, GetAppKey, DeleteAppKey (account scope).

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

function assertKey(key, displayName) {
  assert.ok(key, 'key present');
  assert.equal(typeof key.id, 'string');
  assert.match(key.id, /^app_/, 'an app key id starts with app_');
  assertId(key.id.slice('app_'.length), 'key id after its prefix');
  assert.equal(typeof key.secret, 'string', 'key.secret is returned');
  assert.ok(key.secret.length >= 16, 'key.secret is long enough to be a secret');
  if (displayName !== undefined) assert.equal(key.displayName, displayName);
}

describe('CreateAppKey', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('201 with id, displayName and secret', async () => {
    const name = unique('key');
    const { data, response } = await ctx.api.appKeys.createAppKeyWithHttpInfo(app.id, new SC.AppKeyCreateBody(name));
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.AppKeyResponse);
    assertKey(data.key, name);
  });

  test('two keys get different ids and secrets', async () => {
    const a = await ctx.createAppKey(app.id);
    const b = await ctx.createAppKey(app.id);
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.secret, b.secret);
  });

  test('the new key authenticates with basic auth and with an app-scoped JWT', async () => {
    const key = await ctx.createAppKey(app.id);
    const viaBasic = await ctx.asKey(key).apps.getApp(app.id);
    assert.equal(viaBasic.app.id, app.id);
    const viaJwt = await ctx.asJwt(key, 'app').apps.getApp(app.id);
    assert.equal(viaJwt.app.id, app.id);
  });

  test('400 without a displayName, or with a bad one', async () => {
    await expectError(ctx.api.appKeys.createAppKey(app.id, {}), 400, 'bad_request');
    await expectError(ctx.api.appKeys.createAppKey(app.id, { displayName: '' }), 400, 'bad_request');
    await expectError(ctx.api.appKeys.createAppKey(app.id, { displayName: 'k'.repeat(101) }), 400, 'bad_request');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.appKeys.createAppKey(unknownId(), { displayName: 'k' }), 404, 'app_not_found');
  });

  test('an app holds at most 10 keys', async () => {
    const fresh = await ctx.createApp();
    for (let i = 0; i < 10; i += 1) await ctx.createAppKey(fresh.id);
    const err = await expectError(ctx.api.appKeys.createAppKey(fresh.id, { displayName: 'eleventh' }), 400);
    assert.ok(err.body.errors[0].code, 'an error code is given');
    const { keys } = await ctx.api.appKeys.listAppKeys(fresh.id);
    assert.equal(keys.length, 10);
  });
});

describe('ListAppKeys', () => {
  test('200 with every key of the app, secrets included, and only those', async () => {
    const app = await ctx.createApp();
    const other = await ctx.createApp();
    const mine = [await ctx.createAppKey(app.id, 'one'), await ctx.createAppKey(app.id, 'two')];
    const theirs = await ctx.createAppKey(other.id, 'three');
    const { data, response } = await ctx.api.appKeys.listAppKeysWithHttpInfo(app.id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.AppKeyListResponse);
    assert.equal(data.keys.length, 2);
    for (const k of mine) {
      const listed = data.keys.find((x) => x.id === k.id);
      assert.ok(listed, `key ${k.id} is listed`);
      assertKey(listed, k.displayName);
      assert.equal(listed.secret, k.secret, 'List returns the secret');
    }
    assert.ok(!data.keys.some((k) => k.id === theirs.id));
  });

  test('an app without keys lists []', async () => {
    const app = await ctx.createApp();
    const { keys } = await ctx.api.appKeys.listAppKeys(app.id);
    assert.deepEqual(keys, []);
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.appKeys.listAppKeys(unknownId()), 404, 'app_not_found');
  });
});

describe('GetAppKey', () => {
  let app;
  let key;
  before(async () => {
    app = await ctx.createApp();
    key = await ctx.createAppKey(app.id, 'gettable');
  });

  test('200 with the key and its secret', async () => {
    const { data, response } = await ctx.api.appKeys.getAppKeyWithHttpInfo(app.id, key.id);
    assert.equal(response.status, 200);
    assertKey(data.key, 'gettable');
    assert.equal(data.key.id, key.id);
    assert.equal(data.key.secret, key.secret);
  });

  test('404 for an unknown key', async () => {
    await expectError(ctx.api.appKeys.getAppKey(app.id, 'app_' + unknownId()), 404);
  });

  test("404 for another app's key", async () => {
    const other = await ctx.createApp();
    await expectError(ctx.api.appKeys.getAppKey(other.id, key.id), 404);
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.appKeys.getAppKey(unknownId(), key.id), 404, 'app_not_found');
  });
});

describe('DeleteAppKey', () => {
  test('200 with {}; the key is gone and no longer authenticates', async () => {
    const app = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    await ctx.asKey(key).apps.getApp(app.id);
    const { response } = await ctx.api.appKeys.deleteAppKeyWithHttpInfo(app.id, key.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(ctx.api.appKeys.getAppKey(app.id, key.id), 404);
    const { keys } = await ctx.api.appKeys.listAppKeys(app.id);
    assert.ok(!keys.some((k) => k.id === key.id));
    await expectError(ctx.asKey(key).apps.getApp(app.id), 401, 'unauthorized');
    await expectError(ctx.asJwt(key, 'app').apps.getApp(app.id), 401, 'unauthorized');
  });

  test('404 for an unknown or already deleted key', async () => {
    const app = await ctx.createApp();
    await expectError(ctx.api.appKeys.deleteAppKey(app.id, 'app_' + unknownId()), 404);
    const key = await ctx.createAppKey(app.id);
    await ctx.api.appKeys.deleteAppKey(app.id, key.id);
    await expectError(ctx.api.appKeys.deleteAppKey(app.id, key.id), 404);
  });

  test("another app's key cannot be deleted through this app", async () => {
    const app = await ctx.createApp();
    const other = await ctx.createApp();
    const key = await ctx.createAppKey(other.id);
    await expectError(ctx.api.appKeys.deleteAppKey(app.id, key.id), 404);
    await ctx.asKey(key).apps.getApp(other.id);
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.appKeys.deleteAppKey(unknownId(), 'app_' + unknownId()), 404, 'app_not_found');
  });
});

describe('App Keys: scopes', () => {
  test('an app key cannot manage keys, not even of its own app (account scope only)', async () => {
    const app = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    const api = ctx.asKey(key);
    await expectError(api.appKeys.createAppKey(app.id, { displayName: 'x' }), 403, 'forbidden');
    await expectError(api.appKeys.listAppKeys(app.id), 403, 'forbidden');
    await expectError(api.appKeys.getAppKey(app.id, key.id), 403, 'forbidden');
    await expectError(api.appKeys.deleteAppKey(app.id, key.id), 403, 'forbidden');
  });

  test('an app key gets 403 on the keys of another app', async () => {
    const app = await ctx.createApp();
    const other = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    await expectError(ctx.asKey(key).appKeys.listAppKeys(other.id), 403, 'forbidden');
  });

  test('an account JWT manages keys', async () => {
    const app = await ctx.createApp();
    const api = ctx.asJwt(ctx.account, 'account');
    const { data, response } = await api.appKeys.createAppKeyWithHttpInfo(app.id, { displayName: 'via jwt' });
    assert.equal(response.status, 201);
    assertKey(data.key, 'via jwt');
    const { keys } = await api.appKeys.listAppKeys(app.id);
    assert.equal(keys.length, 1);
  });

  test('401 without credentials', async () => {
    const app = await ctx.createApp();
    await expectError(ctx.as({}).appKeys.listAppKeys(app.id), 401, 'unauthorized');
  });
});
