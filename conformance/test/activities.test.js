'use strict';
// Tag "Activities": PostActivity (conversation:read, typing:start, typing:stop).

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertTimestamp, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

ctx.requireFeature('PostActivity', async () => {
  const app = await ctx.createApp();
  const c = await ctx.createConversation(app.id, {});
  await ctx.api.activities.postActivity(app.id, c.id, { author: { type: 'business' }, type: 'typing:start' });
});
ctx.requireFeature('PostMessage', async () => {
  const app = await ctx.createApp();
  const c = await ctx.createConversation(app.id, {});
  await ctx.api.messages.postMessage(app.id, c.id, { author: { type: 'business' }, content: { type: 'text', text: 'probe' } });
});

describe('PostActivity', () => {
  let app;
  let user;
  let conversation;
  before(async () => {
    app = await ctx.createApp();
    user = await ctx.createUser(app.id, { externalId: unique('reader') });
    conversation = await ctx.createPersonalConversation(app.id, user);
  });

  test('business typing:start and typing:stop: 200 with {}', async (t) => {
    if (ctx.missing(t, 'PostActivity')) return;
    for (const type of ['typing:start', 'typing:stop']) {
      const { response } = await ctx.api.activities.postActivityWithHttpInfo(app.id, conversation.id, { author: { type: 'business' }, type });
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, {});
    }
  });

  test("business conversation:read sets businessLastRead (client's model class)", async (t) => {
    if (ctx.missing(t, 'PostActivity')) return;
    const body = new SC.ActivityPost(new SC.Author('business'), 'conversation:read');
    const { response } = await ctx.api.activities.postActivityWithHttpInfo(app.id, conversation.id, body);
    assert.equal(response.status, 200);
    const { conversation: c } = await ctx.api.conversations.getConversation(app.id, conversation.id);
    assertTimestamp(c.businessLastRead, 'conversation.businessLastRead');
  });

  test('user conversation:read (by userId or userExternalId) sets lastRead and clears unreadCount', async (t) => {
    if (ctx.missing(t, 'PostActivity')) return;
    if (ctx.missing(t, 'PostMessage')) return;
    await ctx.api.messages.postMessage(app.id, conversation.id, { author: { type: 'business' }, content: { type: 'text', text: 'unread' } });
    let { participants } = await ctx.api.participants.listParticipants(app.id, conversation.id);
    assert.equal(participants[0].unreadCount, 1);
    const { response } = await ctx.api.activities.postActivityWithHttpInfo(app.id, conversation.id, { author: { type: 'user', userId: user.id }, type: 'conversation:read' });
    assert.equal(response.status, 200);
    ({ participants } = await ctx.api.participants.listParticipants(app.id, conversation.id));
    assert.equal(participants[0].unreadCount, 0);
    assertTimestamp(participants[0].lastRead, 'participant.lastRead');
    const byExternal = await ctx.api.activities.postActivityWithHttpInfo(app.id, conversation.id, { author: { type: 'user', userExternalId: user.externalId }, type: 'conversation:read' });
    assert.equal(byExternal.response.status, 200);
  });

  test('400 for a user author with typing (only conversation:read is supported)', async (t) => {
    if (ctx.missing(t, 'PostActivity')) return;
    await expectError(ctx.api.activities.postActivity(app.id, conversation.id, { author: { type: 'user', userId: user.id }, type: 'typing:start' }), 400, 'bad_request');
  });

  test('400 on bad bodies', async (t) => {
    if (ctx.missing(t, 'PostActivity')) return;
    const bad = (body) => expectError(ctx.api.activities.postActivity(app.id, conversation.id, body), 400, 'bad_request');
    await bad({ type: 'typing:start' });
    await bad({ author: { type: 'business' } });
    await bad({ author: { type: 'business' }, type: 'dancing' });
    await bad({ author: { type: 'martian' }, type: 'typing:start' });
  });

  test('404 conversation_not_found; 404 app_not_found', async () => {
    const body = { author: { type: 'business' }, type: 'typing:start' };
    await expectError(ctx.api.activities.postActivity(app.id, unknownId(), body), 404, 'conversation_not_found');
    await expectError(ctx.api.activities.postActivity(unknownId(), unknownId(), body), 404, 'app_not_found');
  });

  test('an app key gets 403 on another app', async () => {
    const other = await ctx.createApp();
    const key = await ctx.createAppKey(other.id);
    await expectError(ctx.asKey(key).activities.postActivity(app.id, conversation.id, { author: { type: 'business' }, type: 'typing:start' }), 403, 'forbidden');
  });
});
