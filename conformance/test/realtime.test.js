'use strict';
// Realtime (sdk-protocol §5): the real `faye` client (what the SDKs embed) against /faye,
// over WebSocket and over long-polling. It handshakes, subscribes to the user channel
// `/sdk/apps/{appId}/appusers/{appUserId}` with `ext: {appId, appUserId, jwt}` (the SDKs'
// outgoing extension), and must receive `{events: [...]}` for what the v2 API commits.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const faye = require('faye');
const { useServer, signJwt, unique } = require('../lib/harness');

const ctx = useServer();

/** Rejects after `ms` with `what` in the message. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A faye client as the SDKs set it up: credentials on /meta/subscribe only. */
function sdkClient(transport, ext) {
  const client = new faye.Client(`${ctx.server.baseUrl}/faye`, { timeout: 30, retry: 1 });
  if (transport === 'long-polling') client.disable('websocket');
  client.addExtension({
    outgoing(message, callback) {
      if (message.channel === '/meta/subscribe') message.ext = ext;
      callback(message);
    },
  });
  return client;
}

/** Resolves when the subscription is acknowledged; rejects with faye's parsed error. */
function subscribed(subscription) {
  return new Promise((resolve, reject) => subscription.then(resolve, reject));
}

describe('Realtime over the faye client', () => {
  let app;
  let key;
  let ann;
  let bob;
  let conversation;
  const clients = [];

  before(async () => {
    app = await ctx.createApp();
    key = await ctx.createAppKey(app.id);
    ann = await ctx.createUser(app.id, { externalId: unique('ann') });
    bob = await ctx.createUser(app.id, { externalId: unique('bob') });
    conversation = await ctx.createConversation(app.id, { type: 'sdkGroup', participants: [{ userId: ann.id }, { userId: bob.id }] });
  });

  // Disconnect before the server stops: a faye client whose /meta/disconnect goes
  // unanswered keeps retrying it, and keeps the process alive.
  after(async () => {
    await within(10000, 'the disconnects', Promise.all(clients.map((c) => new Promise((resolve) => {
      const p = c.disconnect();
      if (p) p.then(resolve, resolve); else resolve();
    }))));
  });

  const channelOf = (user) => `/sdk/apps/${app.id}/appusers/${user.id}`;
  const jwtOf = (user) => signJwt(key, 'user', { payload: { external_id: user.externalId } });

  for (const transport of ['websocket', 'long-polling']) {
    test(`messages and typing posted through the API arrive over ${transport}`, async () => {
      const client = sdkClient(transport, { appId: app.id, appUserId: ann.id, jwt: jwtOf(ann) });
      clients.push(client);
      const received = [];
      let wake = () => {};
      const subscription = client.subscribe(channelOf(ann), (data) => {
        received.push(...data.events);
        wake();
      });
      await within(10000, 'the subscription', subscribed(subscription));
      assert.equal(client._dispatcher.connectionType, transport, 'the transport the client settled on');

      const text = unique('hello');
      await ctx.api.messages.postMessage(app.id, conversation.id, { author: { type: 'business' }, content: { type: 'text', text } });
      await ctx.api.activities.postActivity(app.id, conversation.id, { author: { type: 'business' }, type: 'typing:start' });
      await within(10000, 'two events', new Promise((resolve) => {
        wake = () => { if (received.length >= 2) resolve(); };
        wake();
      }));
      const [message, activity] = received;
      assert.equal(message.type, 'message');
      assert.equal(message.conversation._id, conversation.id);
      assert.equal(message.message.text, text);
      assert.equal(message.message.role, 'appMaker');
      assert.equal(activity.type, 'activity');
      assert.equal(activity.activity.type, 'typing:start');
      assert.equal(activity.activity.role, 'appMaker');
    });
  }

  test("subscribing to another user's channel is refused", async () => {
    const client = sdkClient('long-polling', { appId: app.id, appUserId: bob.id, jwt: jwtOf(ann) });
    clients.push(client);
    const error = await within(10000, 'the refusal', subscribed(client.subscribe(channelOf(bob), () => {})).then(
      () => null,
      (e) => e,
    ));
    assert.ok(error, 'the subscription must fail');
    assert.equal(error.code, 403);
  });

  test('a subscription without credentials is unauthorized', async () => {
    const client = sdkClient('long-polling', { appId: app.id, appUserId: ann.id });
    clients.push(client);
    const error = await within(10000, 'the refusal', subscribed(client.subscribe(channelOf(ann), () => {})).then(
      () => null,
      (e) => e,
    ));
    assert.ok(error, 'the subscription must fail');
    assert.equal(error.code, 401);
    assert.equal(error.message, 'Unauthorized');
  });
});
