'use strict';
// Tag "CustomIntegrationApiKeys": CreateCustomIntegrationKey, ListCustomIntegrationKeys,
// GetCustomIntegrationKey, DeleteCustomIntegrationKey; and what an integration key may do.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

async function createCustom(appId) {
  const { integration } = await ctx.api.integrations.createIntegration(appId, {
    type: 'custom', displayName: unique('bot'), webhooks: [{ target: 'https://example.org/hook', triggers: ['conversation:message'] }],
  });
  return integration;
}

function assertIntegrationKey(key, displayName) {
  assert.ok(key, 'key present');
  assert.match(key.id, /^int_/, 'an integration key id starts with int_');
  assertId(key.id.slice('int_'.length), 'key id after its prefix');
  assert.equal(typeof key.secret, 'string', 'key.secret is returned');
  assert.ok(key.secret.length >= 16);
  if (displayName !== undefined) assert.equal(key.displayName, displayName);
}

describe('CreateCustomIntegrationKey', () => {
  let app;
  let integration;
  before(async () => {
    app = await ctx.createApp();
    integration = await createCustom(app.id);
  });

  test("201 with id, displayName and secret (client's model class)", async () => {
    const { data, response } = await ctx.api.integrationKeys.createCustomIntegrationKeyWithHttpInfo(app.id, integration.id, new SC.IntegrationApiKey('my key'));
    assert.equal(response.status, 201);
    assertIntegrationKey(data.key, 'my key');
  });

  test('400 for an integration that is not custom', async () => {
    const web = (await ctx.api.integrations.createIntegration(app.id, { type: 'web' })).integration;
    await expectError(ctx.api.integrationKeys.createCustomIntegrationKey(app.id, web.id, { displayName: 'k' }), 400, 'bad_request');
  });

  test('400 without a displayName', async () => {
    await expectError(ctx.api.integrationKeys.createCustomIntegrationKey(app.id, integration.id, {}), 400, 'bad_request');
  });

  test('an integration holds at most 10 keys', async () => {
    const fresh = await createCustom(app.id);
    for (let i = 0; i < 10; i += 1) await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, fresh.id, { displayName: `k${i}` });
    await expectError(ctx.api.integrationKeys.createCustomIntegrationKey(app.id, fresh.id, { displayName: 'eleventh' }), 400);
  });

  test('404 integration_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.integrationKeys.createCustomIntegrationKey(app.id, unknownId(), { displayName: 'k' }), 404, 'integration_not_found');
    await expectError(ctx.api.integrationKeys.createCustomIntegrationKey(unknownId(), integration.id, { displayName: 'k' }), 404, 'app_not_found');
  });
});

describe('ListCustomIntegrationKeys / GetCustomIntegrationKey / DeleteCustomIntegrationKey', () => {
  let app;
  let integration;
  before(async () => {
    app = await ctx.createApp();
    integration = await createCustom(app.id);
  });

  test('List returns every key of the integration with its secret', async () => {
    const a = (await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, integration.id, { displayName: 'a' })).key;
    const b = (await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, integration.id, { displayName: 'b' })).key;
    const otherIntegration = await createCustom(app.id);
    await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, otherIntegration.id, { displayName: 'elsewhere' });
    const { data, response } = await ctx.api.integrationKeys.listCustomIntegrationKeysWithHttpInfo(app.id, integration.id);
    assert.equal(response.status, 200);
    const ids = data.keys.map((k) => k.id);
    assert.ok(ids.includes(a.id) && ids.includes(b.id));
    assert.equal(data.keys.length, 2);
    for (const k of data.keys) assertIntegrationKey(k);
    assert.equal(data.keys.find((k) => k.id === a.id).secret, a.secret);
  });

  test('Get returns the key with its secret; 404 for an unknown key', async () => {
    const k = (await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, integration.id, { displayName: 'g' })).key;
    const { data, response } = await ctx.api.integrationKeys.getCustomIntegrationKeyWithHttpInfo(app.id, integration.id, k.id);
    assert.equal(response.status, 200);
    assertIntegrationKey(data.key, 'g');
    assert.equal(data.key.secret, k.secret);
    await expectError(ctx.api.integrationKeys.getCustomIntegrationKey(app.id, integration.id, 'int_' + unknownId()), 404);
  });

  test('Delete: 200 with {}; the key is gone and no longer authenticates', async () => {
    const k = (await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, integration.id, { displayName: 'd' })).key;
    await ctx.asKey(k).users.createUser(app.id, {});
    const { response } = await ctx.api.integrationKeys.deleteCustomIntegrationKeyWithHttpInfo(app.id, integration.id, k.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(ctx.api.integrationKeys.getCustomIntegrationKey(app.id, integration.id, k.id), 404);
    await expectError(ctx.api.integrationKeys.deleteCustomIntegrationKey(app.id, integration.id, k.id), 404);
    await expectError(ctx.asKey(k).users.createUser(app.id, {}), 401, 'unauthorized');
  });

  test('404 integration_not_found on an unknown integration', async () => {
    await expectError(ctx.api.integrationKeys.listCustomIntegrationKeys(app.id, unknownId()), 404, 'integration_not_found');
  });
});

describe('Integration keys: what integration scope may do', () => {
  let app;
  let integration;
  let key;
  before(async () => {
    app = await ctx.createApp();
    integration = await createCustom(app.id);
    key = (await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, integration.id, { displayName: 'scope' })).key;
  });

  test('Users and Conversations, with basic auth and with an integration-scoped JWT', async () => {
    for (const api of [ctx.asKey(key), ctx.asJwt(key, 'integration')]) {
      const { user } = await api.users.createUser(app.id, { externalId: unique('int-user') });
      const { response } = await api.conversations.createConversationWithHttpInfo(app.id, { type: 'personal', participants: [{ userId: user.id }] });
      assert.equal(response.status, 201);
    }
  });

  test('not Apps, App Keys or Integrations: 403', async () => {
    const api = ctx.asKey(key);
    await expectError(api.apps.getApp(app.id), 403, 'forbidden');
    await expectError(api.appKeys.listAppKeys(app.id), 403, 'forbidden');
    await expectError(api.integrations.listIntegrations(app.id), 403, 'forbidden');
    await expectError(api.integrationKeys.listCustomIntegrationKeys(app.id, integration.id), 403, 'forbidden');
  });

  test('not another app: 403', async () => {
    const other = await ctx.createApp();
    await expectError(ctx.asKey(key).users.createUser(other.id, {}), 403, 'forbidden');
  });

  test('an integration key cannot sign a token of another scope', async () => {
    await expectError(ctx.asJwt(key, 'app').users.createUser(app.id, {}), 401, 'unauthorized');
  });

  test('an app key manages integration keys; an app key of another app gets 403', async () => {
    const appKey = await ctx.createAppKey(app.id);
    const { response } = await ctx.asKey(appKey).integrationKeys.createCustomIntegrationKeyWithHttpInfo(app.id, integration.id, { displayName: 'by app' });
    assert.equal(response.status, 201);
    const other = await ctx.createApp();
    const stranger = await ctx.createAppKey(other.id);
    await expectError(ctx.asKey(stranger).integrationKeys.listCustomIntegrationKeys(app.id, integration.id), 403, 'forbidden');
  });
});
