'use strict';
// Channel-only operations (DownloadMessageRef, PostConversionEvents, SyncUser) and what
// the app settings and PostMessage's destination promise.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

describe('Channel-only operations', () => {
  let app, user, conversation;
  before(async () => {
    app = await ctx.createApp();
    user = await ctx.createUser(app.id, { externalId: unique('u') });
    conversation = await ctx.createPersonalConversation(app.id, user);
  });

  const ref = () => ({ url: 'https://p61-content.icloud.com/x', bid: 'b', key: 'k', signature: 's', owner: 'o' });

  test('DownloadMessageRef: the body is checked in full, then the user has no apple client', async () => {
    const bad = await expectError(ctx.api.conversations.downloadMessageRef(app.id, conversation.id, { apple: { interactiveDataRef: { url: 1 } } }), 400, 'bad_request');
    assert.ok(bad.body.errors.length >= 5, JSON.stringify(bad.body));
    const err = await expectError(ctx.api.conversations.downloadMessageRef(app.id, conversation.id, { userId: user.id, apple: { interactiveDataRef: ref() } }), 400, 'bad_request');
    assert.match(err.body.errors[0].title, /has no apple client/);
    await expectError(ctx.api.conversations.downloadMessageRef(app.id, unknownId(), { userId: user.id, apple: { interactiveDataRef: ref() } }), 404, 'conversation_not_found');
  });

  test('PostConversionEvents: one Meta channel with events, then no such client', async () => {
    const path = '/v2/apps/{appId}/conversations/{conversationId}/conversionEvents';
    const pathParams = { appId: app.id, conversationId: conversation.id };
    await expectError(ctx.raw('POST', path, { pathParams, body: { instagram: { payload: {} } } }), 400, 'bad_request');
    const body = { instagram: { payload: { data: [{ action_source: 'business_messaging', event_name: 'TestEvent', event_time: 1752161233, messaging_channel: 'instagram' }] } } };
    const err = await expectError(ctx.raw('POST', path, { pathParams, body }), 400, 'bad_request');
    assert.match(err.body.errors[0].title, /has no instagram client/);
  });

  test('SyncUser: no user here has a zendeskId', async () => {
    const path = '/v2/apps/{appId}/users/{zendeskId}/sync';
    await expectError(ctx.raw('POST', path, { pathParams: { appId: app.id, zendeskId: '35436' }, body: { survivingZendeskId: 7 } }), 400, 'bad_request');
    await expectError(ctx.raw('POST', path, { pathParams: { appId: app.id, zendeskId: '35436' }, body: { survivingZendeskId: '35437' } }), 404, 'user_not_found');
  });
});

describe('What the settings promise', () => {
  test('settings that mean nothing here are refused when turned on, named', async () => {
    for (const name of ['ignoreAutoConversationStart', 'appLocalizationEnabled', 'endSessionEnabled', 'disableConversationReopen']) {
      const err = await expectError(ctx.api.apps.createApp({ displayName: unique('app'), settings: { multiConvoEnabled: true, [name]: true } }), 400, 'bad_request');
      assert.ok(err.body.errors.some((e) => e.title.includes(`settings.${name} is not supported`)), JSON.stringify(err.body));
    }
    const { data } = await ctx.api.apps.createAppWithHttpInfo({ displayName: unique('app'), settings: { echoPostback: true, conversationRetentionSeconds: 3600, appLocalizationEnabled: false } });
    assert.equal(data.app.settings.echoPostback, true);
    assert.equal(data.app.settings.conversationRetentionSeconds, 3600);
  });

  test("PostMessage's destination needs a client of the user on that integration", async () => {
    const app = await ctx.createApp();
    const web = (await ctx.api.integrations.createIntegration(app.id, { type: 'web' })).integration.id;
    const whatsapp = (await ctx.api.integrations.createIntegration(app.id, { type: 'whatsapp' })).integration.id;
    const sdk = await ctx.sdkUser(app.id, unique('browser'), { integrationId: web });
    const post = (destination) => ctx.api.messages.postMessageWithHttpInfo(app.id, sdk.conversationId, { author: { type: 'business' }, content: { type: 'text', text: 'hi' }, destination });
    for (const ok of [{ integrationId: web }, { integrationType: 'web' }, { integrationType: 'none' }]) {
      assert.equal((await post(ok)).response.status, 201);
    }
    for (const refused of [{ integrationId: whatsapp }, { integrationType: 'whatsapp' }]) {
      const err = await expectError(post(refused), 400, 'bad_request');
      assert.match(err.body.errors[0].title, /has no client/);
    }
  });
});
