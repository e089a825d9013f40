'use strict';
// Tag "Messages": PostMessage, ListMessages, DeleteAllMessages, DeleteMessage.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, assertTimestamp, expectError, unknownId, unique } = require('../lib/harness');

// A low message limit, so that 423 can be reached (the spec's is 30,000).
const LIMIT = 120;
const ctx = useServer({ env: { SUNBEAM_MAX_MESSAGES_PER_CONVERSATION: String(LIMIT) } });

const text = (t) => ({ type: 'text', text: t });
const business = { type: 'business' };

ctx.requireFeature('PostMessage', async () => {
  const app = await ctx.createApp();
  const c = await ctx.createConversation(app.id, {});
  await ctx.api.messages.postMessage(app.id, c.id, { author: business, content: text('probe') });
});

function assertMessage(m) {
  assert.ok(m, 'message present');
  assertId(m.id, 'message.id');
  assertTimestamp(m.received, 'message.received');
  assert.ok(m.author && ['business', 'user'].includes(m.author.type), `message.author.type in ${JSON.stringify(m.author)}`);
  assert.ok(m.content && typeof m.content.type === 'string', 'message.content.type');
  assert.ok(m.source && typeof m.source.type === 'string', 'message.source.type');
}

async function post(appId, conversationId, body) {
  const { data, response } = await ctx.api.messages.postMessageWithHttpInfo(appId, conversationId, body);
  assert.equal(response.status, 201);
  assert.ok(data instanceof SC.MessagePostResponse);
  assert.ok(Array.isArray(response.body.messages) && response.body.messages.length >= 1, 'messages: [message]');
  for (const m of response.body.messages) assertMessage(m);
  return response.body.messages[0];
}

function listRaw(appId, conversationId, query = {}) {
  return ctx.raw('GET', '/v2/apps/{appId}/conversations/{conversationId}/messages', { pathParams: { appId, conversationId }, query });
}

describe('PostMessage', () => {
  let app;
  let user;
  let personal;
  before(async () => {
    app = await ctx.createApp();
    user = await ctx.createUser(app.id, { externalId: unique('author'), profile: { givenName: 'Ann', surname: 'Author' } });
    personal = await ctx.createPersonalConversation(app.id, user);
  });

  test('a business text message: 201 with messages[0]', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const m = await post(app.id, personal.id, {
      author: { type: 'business', displayName: 'Support bot', avatarUrl: 'https://example.org/bot.png' },
      content: text('Hello there'),
      metadata: { ticket: 42, lang: 'en' },
    });
    assert.equal(m.author.type, 'business');
    assert.equal(m.author.displayName, 'Support bot');
    assert.equal(m.author.avatarUrl, 'https://example.org/bot.png');
    assert.equal(m.content.type, 'text');
    assert.equal(m.content.text, 'Hello there');
    assert.deepEqual(m.metadata, { ticket: 42, lang: 'en' });
    assert.equal(m.source.type, 'api:conversations');
  });

  test("a user message by userId and by userExternalId, with the client's model classes", async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const author = new SC.Author('user');
    author.userId = user.id;
    const body = new SC.MessagePost(author, SC.TextMessage.constructFromObject({ type: 'text', text: 'from the user' }));
    const byId = await post(app.id, personal.id, body);
    assert.equal(byId.author.type, 'user');
    assert.equal(byId.author.userId, user.id);
    assert.equal(byId.content.text, 'from the user');
    const byExternal = await post(app.id, personal.id, { author: { type: 'user', userExternalId: user.externalId }, content: text('again') });
    assert.equal(byExternal.author.userId, user.id);
  });

  test('rich content types are accepted and echoed', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const actions = [
      { type: 'link', text: 'Open', uri: 'https://example.org' },
      { type: 'postback', text: 'Yes', payload: 'YES' },
    ];
    const bodies = [
      { type: 'text', text: 'Pick one', actions: [...actions, { type: 'reply', text: 'Maybe', payload: 'MAYBE' }] },
      { type: 'image', mediaUrl: 'https://example.org/cat.jpg', altText: 'A cat' },
      { type: 'file', mediaUrl: 'https://example.org/doc.pdf', altText: 'A document' },
      { type: 'location', coordinates: { lat: 45.5, long: -73.6 }, location: { name: 'Office', address: '1 Main St' } },
      {
        type: 'carousel',
        items: [
          { title: 'One', description: 'First', mediaUrl: 'https://example.org/1.png', actions: [actions[0]] },
          { title: 'Two', actions: [actions[1]] },
        ],
      },
      { type: 'list', items: [{ title: 'A', actions: [actions[0]] }, { title: 'B', actions: [actions[1]] }] },
      {
        type: 'form',
        blockChatInput: true,
        fields: [
          { type: 'text', name: 'name', label: 'Your name' },
          { type: 'email', name: 'email', label: 'Your email' },
          { type: 'select', name: 'size', label: 'Size', options: [{ name: 's', label: 'Small' }, { name: 'l', label: 'Large' }] },
        ],
      },
    ];
    for (const content of bodies) {
      const m = await post(app.id, personal.id, { author: business, content });
      assert.equal(m.content.type, content.type);
      if (content.mediaUrl) assert.equal(m.content.mediaUrl, content.mediaUrl);
      if (content.items) assert.equal(m.content.items.length, content.items.length);
      if (content.actions) assert.deepEqual(m.content.actions.map((a) => a.type), content.actions.map((a) => a.type));
      if (content.coordinates) assert.deepEqual(m.content.coordinates, content.coordinates);
      if (content.fields) assert.equal(m.content.fields.length, content.fields.length);
    }
  });

  test('posting updates the conversation lastUpdatedAt', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const c = await ctx.createConversation(app.id, {});
    await new Promise((r) => setTimeout(r, 5));
    const m = await post(app.id, c.id, { author: business, content: text('bump') });
    const { conversation } = await ctx.api.conversations.getConversation(app.id, c.id);
    assert.ok(Date.parse(conversation.lastUpdatedAt) >= Date.parse(m.received));
    assert.ok(Date.parse(conversation.lastUpdatedAt) > Date.parse(c.createdAt));
  });

  test('400 on bad bodies', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const bad = (body) => expectError(ctx.api.messages.postMessage(app.id, personal.id, body), 400, 'bad_request');
    await bad({ content: text('no author') });
    await bad({ author: business });
    await bad({ author: { type: 'robot' }, content: text('x') });
    await bad({ author: { type: 'user' }, content: text('which user?') });
    await bad({ author: business, content: { type: 'hologram' } });
    await bad({ author: business, content: { type: 'text' } });
    await bad({ author: business, content: text('t'.repeat(4097)) });
    await bad({ author: business, content: { type: 'image' } });
    await bad({ author: business, content: { type: 'image', mediaUrl: 'not a url' } });
    await bad({ author: business, content: { type: 'carousel', items: [] } });
    await bad({ author: business, content: { type: 'text', text: 'x', actions: [{ type: 'link', text: 'no uri' }] } });
    await bad({ author: business, content: { type: 'location', coordinates: { lat: 1 } } });
    await bad({ author: business, content: text('x'), metadata: { blob: 'm'.repeat(5000) } });
  });

  test('a text of 4096 characters is accepted', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const m = await post(app.id, personal.id, { author: business, content: text('t'.repeat(4096)) });
    assert.equal(m.content.text.length, 4096);
  });

  test('404 conversation_not_found; 404 app_not_found', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    await expectError(ctx.api.messages.postMessage(app.id, unknownId(), { author: business, content: text('x') }), 404, 'conversation_not_found');
    await expectError(ctx.api.messages.postMessage(unknownId(), personal.id, { author: business, content: text('x') }), 404, 'app_not_found');
  });

  test(`423 locked past the per-conversation limit (${LIMIT} here); DeleteAllMessages makes room`, async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const c = await ctx.createConversation(app.id, {});
    for (let i = 0; i < LIMIT; i += 1) await ctx.api.messages.postMessage(app.id, c.id, { author: business, content: text(`m${i}`) });
    const err = await expectError(ctx.api.messages.postMessage(app.id, c.id, { author: business, content: text('one too many') }), 423, 'locked');
    assert.match(err.body.errors[0].title, new RegExp(`${LIMIT}`));
    await ctx.api.messages.deleteAllMessages(app.id, c.id);
    await post(app.id, c.id, { author: business, content: text('room again') });
  });
});

describe('ListMessages', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('an empty conversation lists [] with hasMore false', async () => {
    const c = await ctx.createConversation(app.id, {});
    const { data, response } = await ctx.api.messages.listMessagesWithHttpInfo(app.id, c.id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.MessageListResponse);
    assert.deepEqual(data.messages, []);
    assert.equal(data.meta.hasMore, false);
  });

  test('messages come back oldest first, as posted', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const c = await ctx.createConversation(app.id, {});
    const posted = [];
    for (const s of ['one', 'two', 'three']) posted.push(await post(app.id, c.id, { author: business, content: text(s) }));
    const { data } = await ctx.api.messages.listMessagesWithHttpInfo(app.id, c.id);
    assert.deepEqual(data.messages.map((m) => m.id), posted.map((m) => m.id));
    assert.deepEqual(data.messages.map((m) => m.content.text), ['one', 'two', 'three']);
    for (const m of data.messages) assertMessage(m);
    assert.equal(data.meta.hasMore, false);
  });

  test('pages of 100, newest page first; page[before] goes back, page[after] forward', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const c = await ctx.createConversation(app.id, {});
    const ids = [];
    for (let i = 0; i < 105; i += 1) ids.push((await ctx.api.messages.postMessage(app.id, c.id, { author: business, content: text(`n${i}`) })).messages[0].id);

    const latest = await ctx.api.messages.listMessages(app.id, c.id);
    assert.equal(latest.messages.length, 100);
    assert.deepEqual(latest.messages.map((m) => m.id), ids.slice(5));
    assert.equal(latest.meta.hasMore, true);
    assert.equal(latest.meta.beforeCursor, ids[5]);
    assert.equal(typeof latest.links.prev, 'string');
    assert.equal(new URL(latest.links.prev).searchParams.get('page[before]'), ids[5]);

    const older = await ctx.api.messages.listMessages(app.id, c.id, { page: { before: latest.meta.beforeCursor } });
    assert.deepEqual(older.messages.map((m) => m.id), ids.slice(0, 5));
    assert.equal(older.meta.hasMore, false);

    const newer = await ctx.api.messages.listMessages(app.id, c.id, { page: { after: ids[2] } });
    assert.deepEqual(newer.messages.map((m) => m.id), ids.slice(3, 103));
    assert.equal(newer.meta.hasMore, true);

    // page[size] does not apply to ListMessages.
    const sized = await listRaw(app.id, c.id, { 'page[size]': 10 });
    assert.equal(sized.response.body.messages.length, 100);
  });

  test('400 with both page[after] and page[before], or a malformed cursor', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const c = await ctx.createConversation(app.id, {});
    const m = await post(app.id, c.id, { author: business, content: text('x') });
    await expectError(listRaw(app.id, c.id, { 'page[after]': m.id, 'page[before]': m.id }), 400, 'bad_request');
    await expectError(listRaw(app.id, c.id, { 'page[before]': 'short' }), 400, 'bad_request');
  });

  test('404 conversation_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.messages.listMessages(app.id, unknownId()), 404, 'conversation_not_found');
    await expectError(ctx.api.messages.listMessages(unknownId(), unknownId()), 404, 'app_not_found');
  });
});

describe('DeleteMessage', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('200 with {}; the message is gone from the history', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const c = await ctx.createConversation(app.id, {});
    const keep = await post(app.id, c.id, { author: business, content: text('keep') });
    const drop = await post(app.id, c.id, { author: business, content: text('drop') });
    const { response } = await ctx.api.messages.deleteMessageWithHttpInfo(app.id, c.id, drop.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    const { messages } = await ctx.api.messages.listMessages(app.id, c.id);
    const shown = messages.find((m) => m.id === drop.id);
    // Either removed, or left as a `deleted` placeholder without its content.
    assert.ok(!shown || (shown.deleted === true && shown.content.text !== 'drop'), `deleted message shown as ${JSON.stringify(shown)}`);
    assert.ok(messages.some((m) => m.id === keep.id));
  });

  test('404 for an unknown or already deleted message', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const c = await ctx.createConversation(app.id, {});
    const m = await post(app.id, c.id, { author: business, content: text('x') });
    await ctx.api.messages.deleteMessage(app.id, c.id, m.id);
    await expectError(ctx.api.messages.deleteMessage(app.id, c.id, m.id), 404);
    await expectError(ctx.api.messages.deleteMessage(app.id, c.id, unknownId()), 404);
  });

  test('404 conversation_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.messages.deleteMessage(app.id, unknownId(), unknownId()), 404, 'conversation_not_found');
    await expectError(ctx.api.messages.deleteMessage(unknownId(), unknownId(), unknownId()), 404, 'app_not_found');
  });
});

describe('DeleteAllMessages', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('200 with {}; the history is empty', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const c = await ctx.createConversation(app.id, {});
    for (const s of ['a', 'b']) await post(app.id, c.id, { author: business, content: text(s) });
    const { response } = await ctx.api.messages.deleteAllMessagesWithHttpInfo(app.id, c.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    const { messages } = await ctx.api.messages.listMessages(app.id, c.id);
    assert.deepEqual(messages.filter((m) => !m.deleted), []);
  });

  test('on an empty conversation: 200', async () => {
    const c = await ctx.createConversation(app.id, {});
    const { response } = await ctx.api.messages.deleteAllMessagesWithHttpInfo(app.id, c.id);
    assert.equal(response.status, 200);
  });

  test('404 conversation_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.messages.deleteAllMessages(app.id, unknownId()), 404, 'conversation_not_found');
    await expectError(ctx.api.messages.deleteAllMessages(unknownId(), unknownId()), 404, 'app_not_found');
  });
});

describe('Messages: scopes', () => {
  test('an app key gets 403 on another app', async () => {
    const app = await ctx.createApp();
    const other = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    const api = ctx.asKey(key);
    const c = await ctx.createConversation(other.id, {});
    await expectError(api.messages.postMessage(other.id, c.id, { author: business, content: text('x') }), 403, 'forbidden');
    await expectError(api.messages.listMessages(other.id, c.id), 403, 'forbidden');
    await expectError(api.messages.deleteMessage(other.id, c.id, unknownId()), 403, 'forbidden');
    await expectError(api.messages.deleteAllMessages(other.id, c.id), 403, 'forbidden');
  });

  test('an app key posts and lists on its own app', async (t) => {
    if (ctx.missing(t, 'PostMessage')) return;
    const app = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    const api = ctx.asKey(key);
    const c = await ctx.createConversation(app.id, {});
    const { response } = await api.messages.postMessageWithHttpInfo(app.id, c.id, { author: business, content: text('x') });
    assert.equal(response.status, 201);
    assert.equal((await api.messages.listMessages(app.id, c.id)).messages.length, 1);
  });
});
