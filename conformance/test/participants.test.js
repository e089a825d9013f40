'use strict';
// Tag "Participants": JoinConversation, LeaveConversation, ListParticipants.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

function assertParticipant(p, user) {
  assert.ok(p, 'participant present');
  assertId(p.id, 'participant.id');
  assertId(p.userId, 'participant.userId');
  assert.equal(typeof p.unreadCount, 'number', 'participant.unreadCount is a number');
  assert.ok(Array.isArray(p.clientAssociations), 'participant.clientAssociations is an array');
  if (user) {
    assert.equal(p.userId, user.id);
    if (user.externalId) assert.equal(p.userExternalId, user.externalId);
  }
}

describe('JoinConversation', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('by userId: 201 with the participant', async () => {
    const group = await ctx.createConversation(app.id, {});
    const user = await ctx.createUser(app.id, { externalId: unique('joiner') });
    const { data, response } = await ctx.api.participants.joinConversationWithHttpInfo(app.id, group.id, { userId: user.id, subscribeSDKClient: false });
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.ParticipantResponse);
    assertParticipant(data.participant, user);
    assert.equal(data.participant.unreadCount, 0);
  });

  test("by userExternalId, with the client's model class", async () => {
    const group = await ctx.createConversation(app.id, {});
    const user = await ctx.createUser(app.id, { externalId: unique('ext-joiner') });
    const body = new SC.ParticipantJoinBody();
    body.userExternalId = user.externalId;
    body.subscribeSDKClient = false;
    const { data, response } = await ctx.api.participants.joinConversationWithHttpInfo(app.id, group.id, body);
    assert.equal(response.status, 201);
    assertParticipant(data.participant, user);
  });

  test('400 on a personal conversation (sdkGroup only)', async () => {
    const owner = await ctx.createUser(app.id, {});
    const personal = await ctx.createPersonalConversation(app.id, owner);
    const user = await ctx.createUser(app.id, {});
    await expectError(ctx.api.participants.joinConversation(app.id, personal.id, { userId: user.id }), 400, 'bad_request');
  });

  test('400 on a bad body', async () => {
    const group = await ctx.createConversation(app.id, {});
    const user = await ctx.createUser(app.id, { externalId: unique('bad') });
    await expectError(ctx.api.participants.joinConversation(app.id, group.id, {}), 400, 'bad_request');
    await expectError(ctx.api.participants.joinConversation(app.id, group.id, { userId: user.id, userExternalId: user.externalId }), 400, 'bad_request');
  });

  test('400 when the conversation is full (10 participants)', async () => {
    const participants = [];
    for (let i = 0; i < 10; i += 1) participants.push({ userId: (await ctx.createUser(app.id, {})).id });
    const full = await ctx.createConversation(app.id, { participants });
    const extra = await ctx.createUser(app.id, {});
    await expectError(ctx.api.participants.joinConversation(app.id, full.id, { userId: extra.id }), 400, 'bad_request');
  });

  test('404 user_not_found; 404 conversation_not_found; 404 app_not_found', async () => {
    const group = await ctx.createConversation(app.id, {});
    const user = await ctx.createUser(app.id, {});
    await expectError(ctx.api.participants.joinConversation(app.id, group.id, { userId: unknownId() }), 404, 'user_not_found');
    await expectError(ctx.api.participants.joinConversation(app.id, group.id, { userExternalId: unique('ghost') }), 404, 'user_not_found');
    await expectError(ctx.api.participants.joinConversation(app.id, unknownId(), { userId: user.id }), 404, 'conversation_not_found');
    await expectError(ctx.api.participants.joinConversation(unknownId(), group.id, { userId: user.id }), 404, 'app_not_found');
  });
});

describe('ListParticipants', () => {
  let app;
  let group;
  const users = [];
  before(async () => {
    app = await ctx.createApp();
    for (let i = 0; i < 5; i += 1) users.push(await ctx.createUser(app.id, { externalId: unique(`member-${i}`) }));
    group = await ctx.createConversation(app.id, { participants: users.map((u) => ({ userId: u.id })) });
  });

  test('200 with every participant, meta and links', async () => {
    const { data, response } = await ctx.api.participants.listParticipantsWithHttpInfo(app.id, group.id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.ParticipantListResponse);
    assert.equal(data.participants.length, 5);
    for (const p of data.participants) assertParticipant(p, users.find((u) => u.id === p.userId));
    assert.deepEqual(data.participants.map((p) => p.userId).sort(), users.map((u) => u.id).sort());
    assert.equal(data.meta.hasMore, false);
  });

  test('page[size] and page[after] page through them', async () => {
    const first = await ctx.api.participants.listParticipants(app.id, group.id, { page: { size: 2 } });
    assert.equal(first.participants.length, 2);
    assert.equal(first.meta.hasMore, true);
    assertId(first.meta.afterCursor, 'meta.afterCursor');
    assert.equal(typeof first.links.next, 'string');
    const seen = first.participants.map((p) => p.id);
    let cursor = first.meta.afterCursor;
    for (let i = 0; i < 10 && cursor; i += 1) {
      const { response } = await ctx.raw('GET', '/v2/apps/{appId}/conversations/{conversationId}/participants', {
        pathParams: { appId: app.id, conversationId: group.id },
        query: { 'page[size]': 2, 'page[after]': cursor },
      });
      seen.push(...response.body.participants.map((p) => p.id));
      cursor = response.body.meta.hasMore ? response.body.meta.afterCursor : null;
    }
    assert.equal(seen.length, 5);
    assert.equal(new Set(seen).size, 5);
  });

  test('an empty sdkGroup lists []', async () => {
    const empty = await ctx.createConversation(app.id, {});
    const { participants } = await ctx.api.participants.listParticipants(app.id, empty.id);
    assert.deepEqual(participants, []);
  });

  test('400 on bad page parameters', async () => {
    await expectError(ctx.api.participants.listParticipants(app.id, group.id, { page: { size: 101 } }), 400, 'bad_request');
  });

  test('404 conversation_not_found; 404 app_not_found', async () => {
    await expectError(ctx.api.participants.listParticipants(app.id, unknownId()), 404, 'conversation_not_found');
    await expectError(ctx.api.participants.listParticipants(unknownId(), group.id), 404, 'app_not_found');
  });
});

describe('LeaveConversation', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  async function groupWith(...members) {
    return ctx.createConversation(app.id, { participants: members.map((u) => ({ userId: u.id })) });
  }
  async function memberIds(conversationId) {
    const { participants } = await ctx.api.participants.listParticipants(app.id, conversationId);
    return participants.map((p) => p.userId);
  }

  test('by userId: 200 with {}; the user is no longer listed', async () => {
    const [a, b] = [await ctx.createUser(app.id, {}), await ctx.createUser(app.id, {})];
    const group = await groupWith(a, b);
    const { response } = await ctx.api.participants.leaveConversationWithHttpInfo(app.id, group.id, { userId: a.id });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    assert.deepEqual(await memberIds(group.id), [b.id]);
  });

  test('by userExternalId', async () => {
    const a = await ctx.createUser(app.id, { externalId: unique('leaver') });
    const group = await groupWith(a);
    const body = SC.ParticipantLeaveBody.constructFromObject({ userExternalId: a.externalId });
    const { response } = await ctx.api.participants.leaveConversationWithHttpInfo(app.id, group.id, body);
    assert.equal(response.status, 200);
    assert.deepEqual(await memberIds(group.id), []);
  });

  test('by participantId', async () => {
    const a = await ctx.createUser(app.id, {});
    const group = await ctx.createConversation(app.id, {});
    const { participant } = await ctx.api.participants.joinConversation(app.id, group.id, { userId: a.id });
    const { response } = await ctx.api.participants.leaveConversationWithHttpInfo(app.id, group.id, { participantId: participant.id });
    assert.equal(response.status, 200);
    assert.deepEqual(await memberIds(group.id), []);
  });

  test('a user who left can join again', async () => {
    const a = await ctx.createUser(app.id, {});
    const group = await groupWith(a);
    await ctx.api.participants.leaveConversation(app.id, group.id, { userId: a.id });
    const { response } = await ctx.api.participants.joinConversationWithHttpInfo(app.id, group.id, { userId: a.id });
    assert.equal(response.status, 201);
    assert.deepEqual(await memberIds(group.id), [a.id]);
  });

  test('404 for a user who is not a member', async () => {
    const [a, outsider] = [await ctx.createUser(app.id, {}), await ctx.createUser(app.id, {})];
    const group = await groupWith(a);
    await expectError(ctx.api.participants.leaveConversation(app.id, group.id, { userId: outsider.id }), 404);
    await expectError(ctx.api.participants.leaveConversation(app.id, group.id, { participantId: unknownId() }), 404);
  });

  test('400 without exactly one of userId, userExternalId, participantId', async () => {
    const a = await ctx.createUser(app.id, { externalId: unique('two') });
    const group = await groupWith(a);
    await expectError(ctx.api.participants.leaveConversation(app.id, group.id, {}), 400, 'bad_request');
    await expectError(ctx.api.participants.leaveConversation(app.id, group.id, { userId: a.id, userExternalId: a.externalId }), 400, 'bad_request');
  });

  test('404 conversation_not_found; 404 app_not_found', async () => {
    const a = await ctx.createUser(app.id, {});
    await expectError(ctx.api.participants.leaveConversation(app.id, unknownId(), { userId: a.id }), 404, 'conversation_not_found');
    await expectError(ctx.api.participants.leaveConversation(unknownId(), unknownId(), { userId: a.id }), 404, 'app_not_found');
  });
});

describe('Participants: scopes', () => {
  test('an app key gets 403 on another app', async () => {
    const app = await ctx.createApp();
    const other = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    const api = ctx.asKey(key);
    const user = await ctx.createUser(other.id, {});
    const group = await ctx.createConversation(other.id, { participants: [{ userId: user.id }] });
    await expectError(api.participants.listParticipants(other.id, group.id), 403, 'forbidden');
    await expectError(api.participants.joinConversation(other.id, group.id, { userId: user.id }), 403, 'forbidden');
    await expectError(api.participants.leaveConversation(other.id, group.id, { userId: user.id }), 403, 'forbidden');
    assert.equal((await ctx.api.participants.listParticipants(other.id, group.id)).participants.length, 1);
  });

  test('an app key joins and lists on its own app', async () => {
    const app = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    const api = ctx.asKey(key);
    const user = await ctx.createUser(app.id, {});
    const group = await ctx.createConversation(app.id, {});
    assert.equal((await api.participants.joinConversationWithHttpInfo(app.id, group.id, { userId: user.id })).response.status, 201);
    assert.equal((await api.participants.listParticipants(app.id, group.id)).participants.length, 1);
  });
});
