'use strict';
// Tag "Webhooks": CreateWebhook, ListWebhooks, GetWebhook, UpdateWebhook, DeleteWebhook
// (app and integration scope only), and delivery (spec §5) to a local receiver.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, assertTimestamp, expectError, unknownId, unique } = require('../lib/harness');
const { startReceiver } = require('../lib/receiver');

// Loopback targets allowed; retries after 300 ms instead of minutes.
const ctx = useServer({
  env: {
    SUNBEAM_WEBHOOK_PUBLIC_ONLY: 'false',
    SUNBEAM_WEBHOOK_RETRY_DELAYS_MS: '300,300,300,300',
    SUNBEAM_WEBHOOK_TIMEOUT_MS: '5000',
  },
});

const TARGET = 'https://example.org/sunbeam-webhook';

/** An app, a custom integration on it, and an app key (the Webhooks tag refuses account scope). */
async function setup(webhook = { target: TARGET, triggers: ['conversation:message'] }) {
  const app = await ctx.createApp();
  const { integration } = await ctx.api.integrations.createIntegration(app.id, { type: 'custom', displayName: unique('bot'), webhooks: [webhook] });
  const full = await ctx.api.integrations.getIntegrationWithHttpInfo(app.id, integration.id);
  const appKey = await ctx.createAppKey(app.id);
  return { app, integration, firstWebhook: full.response.body.integration.webhooks[0], api: ctx.asKey(appKey), appKey };
}

function assertWebhook(w) {
  assert.ok(w, 'webhook present');
  assertId(w.id, 'webhook.id');
  assert.ok(['v1', 'v1.1', 'v2'].includes(w.version), `webhook.version ${w.version}`);
  assert.equal(typeof w.target, 'string');
  assert.ok(Array.isArray(w.triggers) && w.triggers.length >= 1);
  assert.equal(typeof w.includeFullUser, 'boolean');
  assert.equal(typeof w.includeFullSource, 'boolean');
}

describe('CreateWebhook', () => {
  test("201 with id, version, secret and flags (app key, client's model class)", async () => {
    const { app, integration, api } = await setup();
    // (The generated `new WebhookCreateBody(target, triggers)` drops both arguments, a
    // client bug; constructFromObject builds it properly.)
    const body = SC.WebhookCreateBody.constructFromObject({ target: TARGET, triggers: ['conversation:message', 'conversation:create'], includeFullUser: true });
    const { data, response } = await api.webhooks.createWebhookWithHttpInfo(app.id, integration.id, body);
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.WebhookResponse);
    assertWebhook(data.webhook);
    assert.equal(data.webhook.target, TARGET);
    assert.deepEqual(data.webhook.triggers, ['conversation:message', 'conversation:create']);
    assert.equal(data.webhook.includeFullUser, true);
    assert.equal(data.webhook.includeFullSource, false);
    assert.equal(typeof data.webhook.secret, 'string');
    assert.ok(data.webhook.secret.length > 0);
  });

  test('400 on bad bodies', async () => {
    const { app, integration, api } = await setup();
    const create = (body) => api.webhooks.createWebhook(app.id, integration.id, body);
    await expectError(create({ triggers: ['conversation:message'] }), 400, 'bad_request');
    await expectError(create({ target: TARGET }), 400, 'bad_request');
    await expectError(create({ target: TARGET, triggers: [] }), 400, 'bad_request');
    await expectError(create({ target: TARGET, triggers: ['conversation:Message'] }), 400, 'bad_request');
    await expectError(create({ target: 'ftp://example.org/x', triggers: ['conversation:message'] }), 400, 'bad_request');
    await expectError(create({ target: TARGET, triggers: ['conversation:message'], includeFullUser: 'yes' }), 400, 'bad_request');
  });

  test('at most 10 webhooks per app', async () => {
    const { app, integration, api } = await setup();
    // The integration was created with one.
    for (let i = 0; i < 9; i += 1) await api.webhooks.createWebhook(app.id, integration.id, { target: TARGET, triggers: ['conversation:message'] });
    await expectError(api.webhooks.createWebhook(app.id, integration.id, { target: TARGET, triggers: ['conversation:message'] }), 400);
  });

  test('404 integration_not_found; 404 app_not_found', async () => {
    const { app, api } = await setup();
    await expectError(api.webhooks.createWebhook(app.id, unknownId(), { target: TARGET, triggers: ['conversation:message'] }), 404, 'integration_not_found');
    const { appKey } = await setup();
    await expectError(ctx.asKey(appKey).webhooks.createWebhook(unknownId(), unknownId(), { target: TARGET, triggers: ['conversation:message'] }), [403, 404]);
  });
});

describe('ListWebhooks / GetWebhook / UpdateWebhook / DeleteWebhook', () => {
  let s;
  before(async () => { s = await setup(); });

  test('List: the webhooks of the integration, secrets included', async () => {
    const made = (await s.api.webhooks.createWebhook(s.app.id, s.integration.id, { target: TARGET, triggers: ['user:update'] })).webhook;
    const { data, response } = await s.api.webhooks.listWebhooksWithHttpInfo(s.app.id, s.integration.id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.WebhookListResponse);
    const ids = data.webhooks.map((w) => w.id);
    assert.ok(ids.includes(made.id) && ids.includes(s.firstWebhook.id));
    for (const w of data.webhooks) {
      assertWebhook(w);
      assert.equal(typeof w.secret, 'string');
    }
  });

  test('Get: the webhook with its secret', async () => {
    const { data, response } = await s.api.webhooks.getWebhookWithHttpInfo(s.app.id, s.integration.id, s.firstWebhook.id);
    assert.equal(response.status, 200);
    assertWebhook(data.webhook);
    assert.equal(data.webhook.secret, s.firstWebhook.secret);
    assert.equal(data.webhook.target, TARGET);
  });

  test("Update: target, triggers and flags; the rest is kept (client's WebhookBody)", async () => {
    const w = (await s.api.webhooks.createWebhook(s.app.id, s.integration.id, { target: TARGET, triggers: ['conversation:message'] })).webhook;
    const body = new SC.WebhookBody();
    body.triggers = ['conversation:read', 'conversation:typing'];
    body.includeFullSource = true;
    const { data, response } = await s.api.webhooks.updateWebhookWithHttpInfo(s.app.id, s.integration.id, w.id, body);
    assert.equal(response.status, 200);
    assertWebhook(data.webhook);
    assert.deepEqual(data.webhook.triggers, ['conversation:read', 'conversation:typing']);
    assert.equal(data.webhook.includeFullSource, true);
    assert.equal(data.webhook.target, TARGET);
    assert.equal(data.webhook.secret, w.secret, 'the secret does not change');
    const moved = await s.api.webhooks.updateWebhook(s.app.id, s.integration.id, w.id, { target: 'https://example.net/other' });
    assert.equal(moved.webhook.target, 'https://example.net/other');
    assert.deepEqual(moved.webhook.triggers, ['conversation:read', 'conversation:typing']);
  });

  test('Update: 400 on a bad body', async () => {
    await expectError(s.api.webhooks.updateWebhook(s.app.id, s.integration.id, s.firstWebhook.id, { triggers: ['nope'] }), 400, 'bad_request');
    await expectError(s.api.webhooks.updateWebhook(s.app.id, s.integration.id, s.firstWebhook.id, { target: 'not a url' }), 400, 'bad_request');
  });

  test('Delete: 200 with {}; then 404', async () => {
    const w = (await s.api.webhooks.createWebhook(s.app.id, s.integration.id, { target: TARGET, triggers: ['conversation:message'] })).webhook;
    const { response } = await s.api.webhooks.deleteWebhookWithHttpInfo(s.app.id, s.integration.id, w.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(s.api.webhooks.getWebhook(s.app.id, s.integration.id, w.id), 404);
    await expectError(s.api.webhooks.deleteWebhook(s.app.id, s.integration.id, w.id), 404);
    await expectError(s.api.webhooks.updateWebhook(s.app.id, s.integration.id, w.id, { target: TARGET }), 404);
  });

  test('404 for an unknown webhook or integration', async () => {
    await expectError(s.api.webhooks.getWebhook(s.app.id, s.integration.id, unknownId()), 404);
    await expectError(s.api.webhooks.listWebhooks(s.app.id, unknownId()), 404, 'integration_not_found');
    await expectError(s.api.webhooks.getWebhook(s.app.id, unknownId(), s.firstWebhook.id), 404);
  });
});

describe('Webhooks: scopes', () => {
  test('the account key gets 403 (the Webhooks tag takes app and integration scope only)', async () => {
    const s = await setup();
    await expectError(ctx.api.webhooks.listWebhooks(s.app.id, s.integration.id), 403, 'forbidden');
    await expectError(ctx.api.webhooks.createWebhook(s.app.id, s.integration.id, { target: TARGET, triggers: ['conversation:message'] }), 403, 'forbidden');
  });

  test("an integration key manages its own webhooks, also as 'me'", async () => {
    const s = await setup();
    const { key } = await ctx.api.integrationKeys.createCustomIntegrationKey(s.app.id, s.integration.id, { displayName: 'own' });
    for (const api of [ctx.asKey(key), ctx.asJwt(key, 'integration')]) {
      const created = await api.webhooks.createWebhookWithHttpInfo(s.app.id, 'me', { target: TARGET, triggers: ['conversation:message'] });
      assert.equal(created.response.status, 201);
      const viaMe = await api.webhooks.listWebhooks(s.app.id, 'me');
      const viaId = await api.webhooks.listWebhooks(s.app.id, s.integration.id);
      assert.deepEqual(viaMe.webhooks.map((w) => w.id).sort(), viaId.webhooks.map((w) => w.id).sort());
      assert.ok(viaMe.webhooks.some((w) => w.id === created.data.webhook.id));
      await api.webhooks.getWebhook(s.app.id, 'me', created.data.webhook.id);
      await api.webhooks.updateWebhook(s.app.id, 'me', created.data.webhook.id, { includeFullUser: true });
      await api.webhooks.deleteWebhook(s.app.id, 'me', created.data.webhook.id);
    }
  });

  test("403 for an integration key on another integration's webhooks", async () => {
    const s = await setup();
    const { integration: second } = await ctx.api.integrations.createIntegration(s.app.id, { type: 'custom', webhooks: [{ target: TARGET, triggers: ['conversation:message'] }] });
    const { key } = await ctx.api.integrationKeys.createCustomIntegrationKey(s.app.id, s.integration.id, { displayName: 'nosy' });
    const api = ctx.asKey(key);
    await expectError(api.webhooks.listWebhooks(s.app.id, second.id), 403, 'forbidden');
    await expectError(api.webhooks.createWebhook(s.app.id, second.id, { target: TARGET, triggers: ['conversation:message'] }), 403, 'forbidden');
  });

  test('an app key of another app gets 403', async () => {
    const s = await setup();
    const other = await setup();
    await expectError(other.api.webhooks.listWebhooks(s.app.id, s.integration.id), 403, 'forbidden');
  });
});

describe('Webhook delivery', () => {
  let receiver;
  let statusFor = () => 200;
  before(async () => { receiver = await startReceiver({ respond: (entry, i) => statusFor(entry, i) }); });
  after(async () => { if (receiver) await receiver.close(); });

  /** An app whose custom integration's webhook posts to its own path on the receiver. */
  async function hooked(triggers, extra = {}) {
    const path = `/${unique('hook')}`;
    const s = await setup({ target: receiver.url(path), triggers, ...extra });
    const mine = () => receiver.requests.filter((r) => r.path === path);
    return { ...s, path, mine };
  }

  test('conversation:message: POST to target with X-API-Key and the v2 envelope', async () => {
    const s = await hooked(['conversation:message']);
    const user = await ctx.createUser(s.app.id, { externalId: unique('talker') });
    const conversation = await ctx.createPersonalConversation(s.app.id, user);
    const { messages } = await ctx.api.messages.postMessage(s.app.id, conversation.id, { author: { type: 'user', userId: user.id }, content: { type: 'text', text: 'hello hook' } });
    await receiver.waitFor(() => s.mine().length >= 1, 10000, 'the conversation:message webhook');
    const req = s.mine()[0];
    assert.equal(req.method, 'POST');
    assert.match(req.headers['content-type'], /^application\/json/);
    assert.equal(req.headers['x-api-key'], s.firstWebhook.secret, 'the secret goes in X-API-Key');
    const body = req.body;
    assert.deepEqual(body.app, { id: s.app.id });
    assert.equal(body.webhook.id, s.firstWebhook.id);
    assert.equal(body.webhook.version, 'v2');
    assert.ok(Array.isArray(body.events) && body.events.length >= 1);
    const ev = body.events[0];
    assertId(ev.id, 'events[0].id');
    assert.equal(ev.type, 'conversation:message');
    assertTimestamp(ev.createdAt, 'events[0].createdAt');
    assert.equal(ev.payload.conversation.id, conversation.id);
    assert.equal(ev.payload.conversation.type, 'personal');
    assert.equal(ev.payload.message.id, messages[0].id);
    assert.equal(ev.payload.message.content.text, 'hello hook');
    assert.equal(ev.payload.message.author.type, 'user');
    assert.equal(ev.payload.message.author.userId, user.id);
    assert.equal(ev.payload.message.author.user.id, user.id);
  });

  test('only subscribed triggers are delivered', async () => {
    const s = await hooked(['conversation:create']);
    const user = await ctx.createUser(s.app.id, {});
    const conversation = await ctx.createPersonalConversation(s.app.id, user);
    await ctx.api.messages.postMessage(s.app.id, conversation.id, { author: { type: 'business' }, content: { type: 'text', text: 'not for this hook' } });
    await receiver.waitFor(() => s.mine().length >= 1, 10000, 'the conversation:create webhook');
    await new Promise((r) => setTimeout(r, 500));
    const types = s.mine().flatMap((r) => r.body.events.map((e) => e.type));
    assert.ok(types.includes('conversation:create'));
    assert.ok(types.every((t) => t === 'conversation:create'), `only conversation:create, got ${types}`);
    const ev = s.mine()[0].body.events.find((e) => e.type === 'conversation:create');
    assert.equal(ev.payload.conversation.id, conversation.id);
  });

  test('includeFullUser adds the full user to user events', async () => {
    const s = await hooked(['conversation:message'], { includeFullUser: true });
    const user = await ctx.createUser(s.app.id, { externalId: unique('full'), profile: { givenName: 'Full', surname: 'User' } });
    const conversation = await ctx.createPersonalConversation(s.app.id, user);
    await ctx.api.messages.postMessage(s.app.id, conversation.id, { author: { type: 'user', userId: user.id }, content: { type: 'text', text: 'who am i' } });
    await receiver.waitFor(() => s.mine().length >= 1, 10000, 'the includeFullUser webhook');
    const u = s.mine()[0].body.events[0].payload.message.author.user;
    assert.equal(u.id, user.id);
    assert.equal(u.profile.givenName, 'Full');
  });

  test('a failed delivery (500) is retried with the same event id', async () => {
    const s = await hooked(['conversation:message']);
    const failures = new Set();
    statusFor = (entry) => {
      if (entry.path === s.path && !failures.has(entry.path)) {
        failures.add(entry.path);
        return 500;
      }
      return 200;
    };
    try {
      const conversation = await ctx.createConversation(s.app.id, {});
      await ctx.api.messages.postMessage(s.app.id, conversation.id, { author: { type: 'business' }, content: { type: 'text', text: 'retry me' } });
      await receiver.waitFor(() => s.mine().length >= 2, 15000, 'a retry after a 500');
      const [first, second] = s.mine();
      assert.equal(second.body.events[0].id, first.body.events[0].id, 'the retry carries the same event id');
      assert.ok(second.at - first.at >= 200, 'the retry waits');
    } finally {
      statusFor = () => 200;
    }
  });

  test('a deleted webhook receives nothing more', async () => {
    const s = await hooked(['conversation:message']);
    await s.api.webhooks.deleteWebhook(s.app.id, s.integration.id, s.firstWebhook.id);
    const conversation = await ctx.createConversation(s.app.id, {});
    await ctx.api.messages.postMessage(s.app.id, conversation.id, { author: { type: 'business' }, content: { type: 'text', text: 'anyone?' } });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(s.mine().length, 0);
  });
});
