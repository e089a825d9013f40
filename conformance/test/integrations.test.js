'use strict';
// Tag "Integrations": CreateIntegration, ListIntegrations, GetIntegration,
// UpdateIntegration, DeleteIntegration. The client deserializes every integration as the
// base `Integration` model, so type-specific fields are read from the wire body.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

const TARGET = 'https://example.org/sunbeam-webhook';

function customBody(extra = {}) {
  return { type: 'custom', displayName: unique('bot'), webhooks: [{ target: TARGET, triggers: ['conversation:message'] }], ...extra };
}

function assertIntegration(i, type) {
  assert.ok(i, 'integration present');
  assertId(i.id, 'integration.id');
  assert.equal(i.type, type);
  assert.ok(['inactive', 'active', 'error'].includes(i.status), `integration.status ${i.status}`);
}

function listRaw(appId, query) {
  return ctx.raw('GET', '/v2/apps/{appId}/integrations', { pathParams: { appId }, query });
}

describe('CreateIntegration', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('custom, with its one webhook: 201', async () => {
    const body = customBody({ displayName: 'My bot' });
    const { data, response } = await ctx.api.integrations.createIntegrationWithHttpInfo(app.id, body);
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.IntegrationResponse);
    assertIntegration(data.integration, 'custom');
    const wire = response.body.integration;
    assert.equal(wire.displayName, 'My bot');
    assert.equal(wire.status, 'active');
    assert.equal(wire.webhooks.length, 1);
    const w = wire.webhooks[0];
    assertId(w.id, 'webhooks[0].id');
    assert.equal(w.target, TARGET);
    assert.deepEqual(w.triggers, ['conversation:message']);
    assert.equal(typeof w.secret, 'string');
    assert.ok(w.secret.length > 0, 'webhook secret is returned on create');
    assert.equal(w.version, 'v2');
    assert.equal(w.includeFullUser, false);
    assert.equal(w.includeFullSource, false);
  });

  test("custom, with the client's model classes", async () => {
    const webhook = new SC.Webhook(TARGET, ['conversation:message', 'conversation:read']);
    webhook.includeFullUser = true;
    const body = new SC.Custom('custom', [webhook]);
    body.displayName = 'Model bot';
    const { response } = await ctx.api.integrations.createIntegrationWithHttpInfo(app.id, body);
    assert.equal(response.status, 201);
    assert.equal(response.body.integration.webhooks[0].includeFullUser, true);
    assert.deepEqual(response.body.integration.webhooks[0].triggers, ['conversation:message', 'conversation:read']);
  });

  test('web, with the spec defaults', async () => {
    const { response } = await ctx.api.integrations.createIntegrationWithHttpInfo(app.id, { type: 'web', displayName: 'Site' });
    assert.equal(response.status, 201);
    const w = response.body.integration;
    assertIntegration(w, 'web');
    assert.equal(w.brandColor, '65758e');
    assert.equal(w.conversationColor, '0099ff');
    assert.equal(w.actionColor, '0099ff');
    assert.equal(w.displayStyle, 'button');
    assert.equal(w.buttonWidth, '58');
    assert.equal(w.buttonHeight, '58');
    assert.equal(w.fixedIntroPane, false);
  });

  test('web, with settings', async () => {
    const { response } = await ctx.api.integrations.createIntegrationWithHttpInfo(app.id, {
      type: 'web', brandColor: 'ff0000', displayStyle: 'tab', businessName: 'Acme', originWhitelist: ['https://acme.example'],
    });
    const w = response.body.integration;
    assert.equal(w.brandColor, 'ff0000');
    assert.equal(w.displayStyle, 'tab');
    assert.equal(w.businessName, 'Acme');
    assert.deepEqual(w.originWhitelist, ['https://acme.example']);
  });

  test('a channel type keeps its write-only secrets out of responses', async () => {
    const { response } = await ctx.api.integrations.createIntegrationWithHttpInfo(app.id, { type: 'telegram', token: 'secret-bot-token' });
    assert.equal(response.status, 201);
    assertIntegration(response.body.integration, 'telegram');
    assert.equal(response.body.integration.token, undefined, 'token is write-only');
    const got = await ctx.api.integrations.getIntegrationWithHttpInfo(app.id, response.body.integration.id);
    assert.equal(got.response.body.integration.token, undefined);
    assert.ok(!JSON.stringify(got.response.body).includes('secret-bot-token'));
  });

  test('400 on bad bodies', async () => {
    const create = (body) => ctx.api.integrations.createIntegration(app.id, body);
    await expectError(create({}), 400, 'bad_request');
    await expectError(create({ type: 'carrier-pigeon' }), 400, 'bad_request');
    await expectError(create({ type: 'custom' }), 400, 'bad_request');
    await expectError(create({ type: 'custom', webhooks: [] }), 400, 'bad_request');
    await expectError(create(customBody({ webhooks: [{ target: TARGET, triggers: ['conversation:message'] }, { target: TARGET, triggers: ['conversation:message'] }] })), 400, 'bad_request');
    await expectError(create(customBody({ webhooks: [{ triggers: ['conversation:message'] }] })), 400, 'bad_request');
    await expectError(create(customBody({ webhooks: [{ target: 'not a url', triggers: ['conversation:message'] }] })), 400, 'bad_request');
    await expectError(create(customBody({ webhooks: [{ target: TARGET, triggers: ['no:such:trigger'] }] })), 400, 'bad_request');
    await expectError(create({ type: 'messenger', appId: 'x' }), 400, 'bad_request');
    await expectError(create({ type: 'web', brandColor: 'red' }), 400, 'bad_request');
    await expectError(create({ type: 'web', displayName: 'd'.repeat(101) }), 400, 'bad_request');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.integrations.createIntegration(unknownId(), customBody()), 404, 'app_not_found');
  });
});

describe('ListIntegrations', () => {
  let app;
  const made = {};
  before(async () => {
    app = await ctx.createApp();
    made.custom = [
      (await ctx.api.integrations.createIntegration(app.id, customBody())).integration,
      (await ctx.api.integrations.createIntegration(app.id, customBody())).integration,
    ];
    made.web = (await ctx.api.integrations.createIntegration(app.id, { type: 'web' })).integration;
    made.telegram = (await ctx.api.integrations.createIntegration(app.id, { type: 'telegram', token: 't' })).integration;
  });

  test('200 with every integration, meta and links', async () => {
    const { data, response } = await ctx.api.integrations.listIntegrationsWithHttpInfo(app.id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.IntegrationListResponse);
    assert.equal(data.integrations.length, 4);
    for (const i of response.body.integrations) assertIntegration(i, i.type);
    assert.equal(data.meta.hasMore, false);
    const customs = response.body.integrations.filter((i) => i.type === 'custom');
    for (const c of customs) assert.equal(c.webhooks.length, 1, 'custom integrations carry their webhooks');
  });

  test('filter[types] narrows by type (comma list)', async () => {
    const onlyCustom = await ctx.api.integrations.listIntegrations(app.id, { filter: { types: 'custom' } });
    assert.deepEqual(onlyCustom.integrations.map((i) => i.id).sort(), made.custom.map((i) => i.id).sort());
    const two = await ctx.api.integrations.listIntegrations(app.id, { filter: { types: 'web,telegram' } });
    assert.deepEqual(two.integrations.map((i) => i.type).sort(), ['telegram', 'web']);
    const none = await ctx.api.integrations.listIntegrations(app.id, { filter: { types: 'ios' } });
    assert.deepEqual(none.integrations, []);
  });

  test('page[size] and page[after]', async () => {
    const first = await ctx.api.integrations.listIntegrations(app.id, { page: { size: 3 } });
    assert.equal(first.integrations.length, 3);
    assert.equal(first.meta.hasMore, true);
    assertId(first.meta.afterCursor, 'meta.afterCursor');
    const { response } = await listRaw(app.id, { 'page[size]': 3, 'page[after]': first.meta.afterCursor });
    assert.equal(response.body.integrations.length, 1);
    assert.equal(response.body.meta.hasMore, false);
    const all = [...first.integrations, ...response.body.integrations].map((i) => i.id);
    assert.equal(new Set(all).size, 4);
  });

  test('400 on an unknown type in filter[types], or bad page parameters', async () => {
    await expectError(ctx.api.integrations.listIntegrations(app.id, { filter: { types: 'carrier-pigeon' } }), 400, 'bad_request');
    await expectError(ctx.api.integrations.listIntegrations(app.id, { page: { size: 0 } }), 400, 'bad_request');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.integrations.listIntegrations(unknownId()), 404, 'app_not_found');
  });
});

describe('GetIntegration', () => {
  let app;
  let integration;
  before(async () => {
    app = await ctx.createApp();
    integration = (await ctx.api.integrations.createIntegration(app.id, customBody({ displayName: 'Gettable' }))).integration;
  });

  test('200 with the integration (and, for custom, its webhooks with secrets)', async () => {
    const { data, response } = await ctx.api.integrations.getIntegrationWithHttpInfo(app.id, integration.id);
    assert.equal(response.status, 200);
    assertIntegration(data.integration, 'custom');
    assert.equal(data.integration.displayName, 'Gettable');
    assert.equal(typeof response.body.integration.webhooks[0].secret, 'string');
  });

  test('404 integration_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.integrations.getIntegration(app.id, unknownId()), 404, 'integration_not_found');
    const other = await ctx.createApp();
    await expectError(ctx.api.integrations.getIntegration(other.id, integration.id), 404, 'integration_not_found');
    await expectError(ctx.api.integrations.getIntegration(unknownId(), integration.id), 404, 'app_not_found');
  });
});

describe('UpdateIntegration', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('custom: displayName changes; null unsets it', async () => {
    const i = (await ctx.api.integrations.createIntegration(app.id, customBody({ displayName: 'Old' }))).integration;
    const { data, response } = await ctx.api.integrations.updateIntegrationWithHttpInfo(app.id, i.id, { displayName: 'New' });
    assert.equal(response.status, 200);
    assert.equal(data.integration.displayName, 'New');
    assert.equal((await ctx.api.integrations.getIntegration(app.id, i.id)).integration.displayName, 'New');
    const unset = await ctx.api.integrations.updateIntegrationWithHttpInfo(app.id, i.id, { displayName: null });
    assert.ok(unset.response.body.integration.displayName == null, 'displayName unset');
  });

  test('web: settings change, the rest is kept', async () => {
    const i = (await ctx.api.integrations.createIntegration(app.id, { type: 'web', displayName: 'Site' })).integration;
    const { response } = await ctx.api.integrations.updateIntegrationWithHttpInfo(app.id, i.id, { brandColor: '123456', businessName: 'Shop' });
    assert.equal(response.body.integration.brandColor, '123456');
    assert.equal(response.body.integration.businessName, 'Shop');
    assert.equal(response.body.integration.displayName, 'Site');
    assert.equal(response.body.integration.conversationColor, '0099ff');
  });

  test('400 on a bad body', async () => {
    const i = (await ctx.api.integrations.createIntegration(app.id, { type: 'web' })).integration;
    await expectError(ctx.api.integrations.updateIntegration(app.id, i.id, { brandColor: 'blue' }), 400, 'bad_request');
    await expectError(ctx.api.integrations.updateIntegration(app.id, i.id, { displayName: '' }), 400, 'bad_request');
  });

  test('404 integration_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.integrations.updateIntegration(app.id, unknownId(), { displayName: 'x' }), 404, 'integration_not_found');
    await expectError(ctx.api.integrations.updateIntegration(unknownId(), unknownId(), { displayName: 'x' }), 404, 'app_not_found');
  });
});

describe('DeleteIntegration', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('200 with {}; the integration, its webhooks and its keys are gone', async () => {
    const i = (await ctx.api.integrations.createIntegration(app.id, customBody())).integration;
    const { key } = await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, i.id, { displayName: 'k' });
    const viaKey = ctx.asKey(key);
    await viaKey.webhooks.listWebhooks(app.id, 'me');
    const { response } = await ctx.api.integrations.deleteIntegrationWithHttpInfo(app.id, i.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(ctx.api.integrations.getIntegration(app.id, i.id), 404, 'integration_not_found');
    await expectError(ctx.api.integrations.deleteIntegration(app.id, i.id), 404, 'integration_not_found');
    await expectError(viaKey.users.createUser(app.id, {}), 401, 'unauthorized');
    const { integrations } = await ctx.api.integrations.listIntegrations(app.id);
    assert.ok(!integrations.some((x) => x.id === i.id));
  });

  test('404 integration_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.integrations.deleteIntegration(app.id, unknownId()), 404, 'integration_not_found');
    await expectError(ctx.api.integrations.deleteIntegration(unknownId(), unknownId()), 404, 'app_not_found');
  });
});

describe('Integrations: scopes', () => {
  let app;
  let other;
  let appKey;
  before(async () => {
    app = await ctx.createApp();
    other = await ctx.createApp();
    appKey = await ctx.createAppKey(app.id);
  });

  test('an app key manages the integrations of its app', async () => {
    const api = ctx.asKey(appKey);
    const { data, response } = await api.integrations.createIntegrationWithHttpInfo(app.id, customBody());
    assert.equal(response.status, 201);
    await api.integrations.getIntegration(app.id, data.integration.id);
    await api.integrations.updateIntegration(app.id, data.integration.id, { displayName: 'by app key' });
    assert.ok((await api.integrations.listIntegrations(app.id)).integrations.length >= 1);
    assert.equal((await api.integrations.deleteIntegrationWithHttpInfo(app.id, data.integration.id)).response.status, 200);
  });

  test('an app key gets 403 on another app', async () => {
    const api = ctx.asKey(appKey);
    const theirs = (await ctx.api.integrations.createIntegration(other.id, customBody())).integration;
    await expectError(api.integrations.createIntegration(other.id, customBody()), 403, 'forbidden');
    await expectError(api.integrations.listIntegrations(other.id), 403, 'forbidden');
    await expectError(api.integrations.getIntegration(other.id, theirs.id), 403, 'forbidden');
    await expectError(api.integrations.updateIntegration(other.id, theirs.id, { displayName: 'x' }), 403, 'forbidden');
    await expectError(api.integrations.deleteIntegration(other.id, theirs.id), 403, 'forbidden');
  });

  test('an integration key gets 403 (integration scope is not accepted here)', async () => {
    const i = (await ctx.api.integrations.createIntegration(app.id, customBody())).integration;
    const { key } = await ctx.api.integrationKeys.createCustomIntegrationKey(app.id, i.id, { displayName: 'k' });
    await expectError(ctx.asKey(key).integrations.listIntegrations(app.id), 403, 'forbidden');
    await expectError(ctx.asKey(key).integrations.getIntegration(app.id, i.id), 403, 'forbidden');
  });
});
