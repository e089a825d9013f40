'use strict';
// Global conventions of the spec (§0, §4): JSON in and out, the error envelope on every
// failure, the 100kb body limit, ids and timestamps.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, expectError, unique } = require('../lib/harness');

const ctx = useServer();

describe('Protocol', () => {
  test('an unknown path answers 404 with the error envelope', async () => {
    await expectError(ctx.raw('GET', '/v2/nothing-here'), 404);
  });

  test('a method a path does not take answers 405 with the error envelope', async () => {
    await expectError(ctx.raw('PUT', '/v2/apps'), 405);
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
