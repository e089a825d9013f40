'use strict';
// Global conventions of the spec (§0, §4): JSON in and out, the error envelope on every
// failure, the 100kb body limit, ids and timestamps.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, expectError, unique } = require('../lib/harness');
const { apisFor, newClient, unknownId } = require('../lib/client');

const ctx = useServer();

describe('Protocol', () => {
  test('an unknown path answers 404 with the error envelope', async () => {
    await expectError(ctx.raw('GET', '/v2/nothing-here'), 404);
  });

  test('a method a path does not take answers 405 with the error envelope', async () => {
    await expectError(ctx.raw('PUT', '/v2/apps'), 405);
  });

  test('a client whose basePath ends in /sc (the hosted service\'s) gets the same answers as /v2', async () => {
    const key = ctx.server.accountKey;
    const sc = apisFor(newClient(`${ctx.server.baseUrl}/sc`, { basic: { id: key.id, secret: key.secret } }));
    const made = (await sc.apps.createApp({ displayName: unique('via-sc') })).app;
    await ctx.createApp();
    const opts = { page: { size: 1 } };
    const viaSc = await sc.apps.listAppsWithHttpInfo(opts);
    const viaV2 = await ctx.api.apps.listAppsWithHttpInfo(opts);
    assert.equal(viaSc.response.status, 200);
    assert.deepEqual(viaSc.response.body.apps, viaV2.response.body.apps);
    assert.deepEqual(viaSc.response.body.meta, viaV2.response.body.meta);
    // Links keep the base path the request used.
    assert.ok(viaSc.data.links.next.startsWith(`${ctx.server.baseUrl}/sc/v2/apps?`), viaSc.data.links.next);
    assert.ok(viaV2.data.links.next.startsWith(`${ctx.server.baseUrl}/v2/apps?`), viaV2.data.links.next);
    assert.equal((await ctx.api.apps.getApp(made.id)).app.id, made.id);
    const user = (await sc.users.createUser(made.id, { externalId: 'bob' })).user;
    const { conversation } = await sc.conversations.createConversation(made.id, { type: 'personal', participants: [{ userId: user.id }] });
    const { conversations } = await sc.conversations.listConversations(made.id, { userExternalId: 'bob' });
    assert.deepEqual(conversations.map((c) => c.id), [conversation.id]);
    const err = await expectError(sc.apps.getApp(unknownId()), 404);
    assert.equal(err.body.errors[0].code, 'app_not_found');
  });

  test('responses are JSON', async () => {
    const { response } = await ctx.api.apps.listAppsWithHttpInfo();
    assert.match(response.headers['content-type'], /^application\/json/);
  });

  test('a JSON body over 100kb is refused with 413 and the envelope', async () => {
    const body = { displayName: unique('big'), metadata: { blob: 'x'.repeat(110 * 1024) } };
    await expectError(ctx.raw('POST', '/v2/apps', { body }), 413);
  });

  test('a body that is not JSON is refused (415) with the envelope', async () => {
    await expectError(ctx.raw('POST', '/v2/apps', { body: 'displayName=x', contentTypes: ['text/plain'] }), 415);
  });

  test('a JSON body that is not an object is refused with 400', async () => {
    await expectError(ctx.raw('POST', '/v2/apps', { body: ['x'] }), 400, 'bad_request');
  });

  test('several problems in one body may come back as several errors, all with code and title', async () => {
    const err = await expectError(ctx.api.users.createUser((await ctx.createApp()).id, {
      externalId: '',
      profile: { email: 'nope', givenName: '' },
    }), 400, 'bad_request');
    for (const e of err.body.errors) assert.equal(e.code, 'bad_request');
  });

  test('delete operations answer 200 with {} (never 204)', async () => {
    const app = await ctx.createApp();
    const { response } = await ctx.api.apps.deleteAppWithHttpInfo(app.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
  });
});
