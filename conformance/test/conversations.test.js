'use strict';
// Tag "Conversations": CreateConversation, ListConversations, GetConversation,
// UpdateConversation, DeleteConversation. (DownloadMessageRef and PostConversionEvents
// need the Apple and Meta channels, which Sunbeam does not have.)

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, assertTimestamp, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

function assertConversation(c, type) {
  assert.ok(c, 'conversation present');
  assertId(c.id, 'conversation.id');
  assert.ok(['personal', 'sdkGroup'].includes(c.type), `conversation.type ${c.type}`);
  if (type) assert.equal(c.type, type);
  assert.equal(typeof c.isDefault, 'boolean', 'conversation.isDefault is a boolean');
  assertTimestamp(c.createdAt, 'conversation.createdAt');
  assertTimestamp(c.lastUpdatedAt, 'conversation.lastUpdatedAt');
}

function listConversations(appId, query, apis) {
  return ctx.raw('GET', '/v2/apps/{appId}/conversations', { pathParams: { appId }, query }, apis);
}

describe('CreateConversation', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('personal, by userId: 201; the first personal conversation is the default', async () => {
    const user = await ctx.createUser(app.id, {});
    const { data, response } = await ctx.api.conversations.createConversationWithHttpInfo(app.id, {
      type: 'personal',
      participants: [{ userId: user.id, subscribeSDKClient: false }],
      displayName: 'Support',
      description: 'Help with orders',
      iconUrl: 'https://example.org/icon.png',
      metadata: { lang: 'en', priority: 2 },
    });
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.ConversationResponse);
    const c = data.conversation;
    assertConversation(c, 'personal');
    assert.equal(c.isDefault, true);
    assert.equal(c.displayName, 'Support');
    assert.equal(c.description, 'Help with orders');
    assert.equal(c.iconUrl, 'https://example.org/icon.png');
    assert.deepEqual(c.metadata, { lang: 'en', priority: 2 });
  });

  test('personal, by userExternalId', async () => {
    const externalId = unique('conv');
    const user = await ctx.createUser(app.id, { externalId });
    const { data, response } = await ctx.api.conversations.createConversationWithHttpInfo(app.id, {
      type: 'personal', participants: [{ userExternalId: externalId }],
    });
    assert.equal(response.status, 201);
    assertConversation(data.conversation, 'personal');
    const { participants } = await ctx.api.participants.listParticipants(app.id, data.conversation.id);
    assert.deepEqual(participants.map((p) => p.userId), [user.id]);
  });

  test("sdkGroup with no participants, with the client's model class", async () => {
    const body = new SC.ConversationCreateBody('sdkGroup');
    body.displayName = 'Group';
    const { data, response } = await ctx.api.conversations.createConversationWithHttpInfo(app.id, body);
    assert.equal(response.status, 201);
    assertConversation(data.conversation, 'sdkGroup');
    assert.equal(data.conversation.isDefault, false);
    assert.equal(data.conversation.displayName, 'Group');
  });

  test('sdkGroup with participants', async () => {
    const users = [await ctx.createUser(app.id, {}), await ctx.createUser(app.id, { externalId: unique('grp') })];
    const { data } = await ctx.api.conversations.createConversationWithHttpInfo(app.id, {
      type: 'sdkGroup',
      participants: [{ userId: users[0].id }, { userExternalId: users[1].externalId }],
    });
    const { participants } = await ctx.api.participants.listParticipants(app.id, data.conversation.id);
    assert.deepEqual(participants.map((p) => p.userId).sort(), users.map((u) => u.id).sort());
  });

  test('400 on bad bodies', async () => {
    const user = await ctx.createUser(app.id, {});
    const create = (body) => ctx.api.conversations.createConversation(app.id, body);
    await expectError(create({}), 400, 'bad_request');
    await expectError(create({ type: 'group' }), 400, 'bad_request');
    await expectError(create({ type: 'personal' }), 400, 'bad_request');
    await expectError(create({ type: 'personal', participants: [] }), 400, 'bad_request');
    const other = await ctx.createUser(app.id, {});
    await expectError(create({ type: 'personal', participants: [{ userId: user.id }, { userId: other.id }] }), 400, 'bad_request');
    await expectError(create({ type: 'sdkGroup', participants: [{ userId: user.id, userExternalId: 'both' }] }), 400, 'bad_request');
    const eleven = [];
    for (let i = 0; i < 11; i += 1) eleven.push({ userId: (await ctx.createUser(app.id, {})).id });
    await expectError(create({ type: 'sdkGroup', participants: eleven }), 400, 'bad_request');
    await expectError(create({ type: 'sdkGroup', displayName: 'd'.repeat(101) }), 400, 'bad_request');
    await expectError(create({ type: 'sdkGroup', iconUrl: 'not a url' }), 400, 'bad_request');
    await expectError(create({ type: 'sdkGroup', metadata: { blob: 'm'.repeat(5000) } }), 400, 'bad_request');
  });

  test('404 user_not_found for an unknown participant', async () => {
    await expectError(ctx.api.conversations.createConversation(app.id, { type: 'personal', participants: [{ userId: unknownId() }] }), 404, 'user_not_found');
    await expectError(ctx.api.conversations.createConversation(app.id, { type: 'sdkGroup', participants: [{ userExternalId: unique('ghost') }] }), 404, 'user_not_found');
  });

  test("404 user_not_found for another app's user", async () => {
    const other = await ctx.createApp();
    const stranger = await ctx.createUser(other.id, {});
    await expectError(ctx.api.conversations.createConversation(app.id, { type: 'personal', participants: [{ userId: stranger.id }] }), 404, 'user_not_found');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.conversations.createConversation(unknownId(), { type: 'sdkGroup' }), 404, 'app_not_found');
  });
});

describe('GetConversation', () => {
  let app;
  let conversation;
  before(async () => {
    app = await ctx.createApp();
    conversation = await ctx.createConversation(app.id, { displayName: 'Get me', metadata: { a: 1 } });
  });

  test('200 with the conversation', async () => {
    const { data, response } = await ctx.api.conversations.getConversationWithHttpInfo(app.id, conversation.id);
    assert.equal(response.status, 200);
    assertConversation(data.conversation, 'sdkGroup');
    assert.equal(data.conversation.id, conversation.id);
    assert.equal(data.conversation.displayName, 'Get me');
    assert.deepEqual(data.conversation.metadata, { a: 1 });
    assert.equal(data.conversation.createdAt, conversation.createdAt);
  });

  test('404 conversation_not_found for an unknown conversation', async () => {
    await expectError(ctx.api.conversations.getConversation(app.id, unknownId()), 404, 'conversation_not_found');
  });

  test("404 conversation_not_found for another app's conversation", async () => {
    const other = await ctx.createApp();
    await expectError(ctx.api.conversations.getConversation(other.id, conversation.id), 404, 'conversation_not_found');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.conversations.getConversation(unknownId(), conversation.id), 404, 'app_not_found');
  });
});

describe('UpdateConversation', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('changes displayName, description, iconUrl and metadata', async () => {
    const c = await ctx.createConversation(app.id, { displayName: 'Before', metadata: { v: 1 } });
    const { data, response } = await ctx.api.conversations.updateConversationWithHttpInfo(app.id, c.id, {
      displayName: 'After',
      description: 'Now described',
      iconUrl: 'https://example.org/after.png',
      metadata: { v: 2 },
    });
    assert.equal(response.status, 200);
    assertConversation(data.conversation, 'sdkGroup');
    assert.equal(data.conversation.displayName, 'After');
    assert.equal(data.conversation.description, 'Now described');
    assert.equal(data.conversation.iconUrl, 'https://example.org/after.png');
    assert.deepEqual(data.conversation.metadata, { v: 2 });
    const got = await ctx.api.conversations.getConversation(app.id, c.id);
    assert.equal(got.conversation.displayName, 'After');
    assert.deepEqual(got.conversation.metadata, { v: 2 });
  });

  test("a partial body with the client's model class keeps other fields; null unsets", async () => {
    const c = await ctx.createConversation(app.id, { displayName: 'Keep', description: 'Drop me' });
    const body = new SC.ConversationUpdateBody();
    body.description = null;
    const { data } = await ctx.api.conversations.updateConversationWithHttpInfo(app.id, c.id, body);
    assert.equal(data.conversation.displayName, 'Keep');
    assert.ok(data.conversation.description === undefined || data.conversation.description === null, 'description unset');
  });

  test('400 on a bad body', async () => {
    const c = await ctx.createConversation(app.id, {});
    await expectError(ctx.api.conversations.updateConversation(app.id, c.id, { displayName: '' }), 400, 'bad_request');
    await expectError(ctx.api.conversations.updateConversation(app.id, c.id, { iconUrl: 'nope' }), 400, 'bad_request');
  });

  test('404 conversation_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.conversations.updateConversation(app.id, unknownId(), { displayName: 'x' }), 404, 'conversation_not_found');
    await expectError(ctx.api.conversations.updateConversation(unknownId(), unknownId(), { displayName: 'x' }), 404, 'app_not_found');
  });
});

describe('DeleteConversation', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('an sdkGroup: 200 with {}, then 404', async () => {
    const c = await ctx.createConversation(app.id, {});
    const { response } = await ctx.api.conversations.deleteConversationWithHttpInfo(app.id, c.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(ctx.api.conversations.getConversation(app.id, c.id), 404, 'conversation_not_found');
    await expectError(ctx.api.conversations.deleteConversation(app.id, c.id), 404, 'conversation_not_found');
  });

  test('400 bad_request for the default conversation', async () => {
    const user = await ctx.createUser(app.id, {});
    const c = await ctx.createPersonalConversation(app.id, user);
    assert.equal(c.isDefault, true);
    await expectError(ctx.api.conversations.deleteConversation(app.id, c.id), 400, 'bad_request');
    await ctx.api.conversations.getConversation(app.id, c.id);
  });

  test('a second personal conversation (multiConvo) is not the default and can be deleted', async () => {
    const multi = await ctx.createApp({ settings: { multiConvoEnabled: true } });
    const user = await ctx.createUser(multi.id, {});
    const first = await ctx.createPersonalConversation(multi.id, user);
    const second = await ctx.createPersonalConversation(multi.id, user);
    assert.equal(first.isDefault, true);
    assert.equal(second.isDefault, false);
    const { response } = await ctx.api.conversations.deleteConversationWithHttpInfo(multi.id, second.id);
    assert.equal(response.status, 200);
  });

  test('404 conversation_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.conversations.deleteConversation(app.id, unknownId()), 404, 'conversation_not_found');
    await expectError(ctx.api.conversations.deleteConversation(unknownId(), unknownId()), 404, 'app_not_found');
  });
});

describe('ListConversations', () => {
  let app;
  let user;
  const mine = [];
  before(async () => {
    app = await ctx.createApp({ settings: { multiConvoEnabled: true } });
    user = await ctx.createUser(app.id, { externalId: unique('lister') });
    mine.push(await ctx.createPersonalConversation(app.id, user));
    for (let i = 0; i < 4; i += 1) {
      mine.push(await ctx.createConversation(app.id, { type: 'sdkGroup', participants: [{ userId: user.id }] }));
    }
    // Someone else's conversation, never listed for `user`.
    const other = await ctx.createUser(app.id, {});
    await ctx.createPersonalConversation(app.id, other);
  });

  test('filter[userId] (client): the conversations of the user, with meta and links', async () => {
    const { data, response } = await ctx.api.conversations.listConversationsWithHttpInfo(app.id, { userId: user.id });
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.ConversationListResponse);
    for (const c of data.conversations) assertConversation(c);
    assert.deepEqual(data.conversations.map((c) => c.id).sort(), mine.map((c) => c.id).sort());
    assert.equal(data.meta.hasMore, false);
    assert.equal(typeof response.body.links, 'object');
  });

  test("filter[userExternalId] (client's ConversationListFilter)", async () => {
    const filter = SC.ConversationListFilter.constructFromObject({ userExternalId: user.externalId });
    const { conversations } = await ctx.api.conversations.listConversations(app.id, filter);
    assert.equal(conversations.length, mine.length);
  });

  test('page[size] and page[after] walk every conversation once', async () => {
    const first = await ctx.api.conversations.listConversations(app.id, { userId: user.id }, { page: { size: 2 } });
    assert.equal(first.conversations.length, 2);
    assert.equal(first.meta.hasMore, true);
    assertId(first.meta.afterCursor, 'meta.afterCursor');
    const next = new URL(first.links.next);
    assert.equal(next.searchParams.get('filter[userId]'), user.id, 'links keep the filter');
    const seen = first.conversations.map((c) => c.id);
    let cursor = first.meta.afterCursor;
    for (let i = 0; i < 10 && cursor; i += 1) {
      const { response } = await listConversations(app.id, { 'filter[userId]': user.id, 'page[size]': 2, 'page[after]': cursor });
      seen.push(...response.body.conversations.map((c) => c.id));
      cursor = response.body.meta.hasMore ? response.body.meta.afterCursor : null;
    }
    assert.equal(new Set(seen).size, seen.length, 'no conversation is listed twice');
    assert.deepEqual(seen.sort(), mine.map((c) => c.id).sort());
  });

  test('a user without conversations lists []', async () => {
    const lonely = await ctx.createUser(app.id, {});
    const { conversations } = await ctx.api.conversations.listConversations(app.id, { userId: lonely.id });
    assert.deepEqual(conversations, []);
  });

  test('400 without a filter, or with both filters', async () => {
    await expectError(listConversations(app.id, {}), 400, 'bad_request');
    await expectError(listConversations(app.id, { 'filter[userId]': user.id, 'filter[userExternalId]': user.externalId }), 400, 'bad_request');
  });

  test('400 on bad page parameters', async () => {
    await expectError(listConversations(app.id, { 'filter[userId]': user.id, 'page[size]': 0 }), 400, 'bad_request');
    await expectError(listConversations(app.id, { 'filter[userId]': user.id, 'page[after]': mine[0].id, 'page[before]': mine[0].id }), 400, 'bad_request');
  });

  test('404 user_not_found for an unknown user; 404 app_not_found', async () => {
    await expectError(ctx.api.conversations.listConversations(app.id, { userId: unknownId() }), 404, 'user_not_found');
    await expectError(ctx.api.conversations.listConversations(unknownId(), { userId: user.id }), 404, 'app_not_found');
  });
});

describe('Conversations: scopes', () => {
  test('an app key works on its own app and gets 403 on another', async () => {
    const app = await ctx.createApp();
    const other = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    const api = ctx.asKey(key);
    const { response } = await api.conversations.createConversationWithHttpInfo(app.id, { type: 'sdkGroup' });
    assert.equal(response.status, 201);
    const theirs = await ctx.createConversation(other.id, {});
    await expectError(api.conversations.createConversation(other.id, { type: 'sdkGroup' }), 403, 'forbidden');
    await expectError(api.conversations.getConversation(other.id, theirs.id), 403, 'forbidden');
    await expectError(api.conversations.updateConversation(other.id, theirs.id, { displayName: 'x' }), 403, 'forbidden');
    await expectError(api.conversations.deleteConversation(other.id, theirs.id), 403, 'forbidden');
    await expectError(api.conversations.listConversations(other.id, { userId: unknownId() }), 403, 'forbidden');
  });

  test('an app-scoped JWT creates conversations', async () => {
    const app = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    const { response } = await ctx.asJwt(key, 'app').conversations.createConversationWithHttpInfo(app.id, { type: 'sdkGroup' });
    assert.equal(response.status, 201);
  });

  test('401 without credentials', async () => {
    const app = await ctx.createApp();
    await expectError(ctx.as({}).conversations.createConversation(app.id, { type: 'sdkGroup' }), 401, 'unauthorized');
  });
});
