'use strict';
// Tag "Apps": CreateApp, ListApps, GetApp, UpdateApp, DeleteApp, through the official client.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

function assertApp(app, expected = {}) {
  assert.ok(app, 'app present');
  assertId(app.id, 'app.id');
  assert.equal(typeof app.displayName, 'string');
  assert.equal(typeof app.settings, 'object', 'app.settings is an object');
  assert.notEqual(app.settings, null, 'app.settings is not null');
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(app[k] && typeof app[k] === 'object' ? { ...app[k] } : app[k], v, `app.${k}`);
  }
}

describe('CreateApp', () => {
  test('a plain body: 201 with an app', async () => {
    const name = unique('My app');
    const { data, response } = await ctx.api.apps.createAppWithHttpInfo({ displayName: name });
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.AppResponse);
    assertApp(data.app, { displayName: name });
    assert.ok(response.body.app.settings && typeof response.body.app.settings === 'object');
  });

  test("the client's model class as body, with settings and metadata", async () => {
    const body = new SC.AppCreateBody(unique('Model app'));
    body.settings = SC.AppSettings.constructFromObject({
      conversationRetentionSeconds: 3600,
      maskCreditCardNumbers: false,
      useAnimalNames: true,
      echoPostback: true,
    });
    body.metadata = { tier: 'gold', seats: 3, beta: true };
    const { data, response } = await ctx.api.apps.createAppWithHttpInfo(body);
    assert.equal(response.status, 201);
    assertApp(data.app, { displayName: body.displayName, metadata: body.metadata });
    assert.equal(data.app.settings.conversationRetentionSeconds, 3600);
    assert.equal(data.app.settings.maskCreditCardNumbers, false);
    assert.equal(data.app.settings.useAnimalNames, true);
    assert.equal(data.app.settings.echoPostback, true);
  });

  test('the ids of two apps differ', async () => {
    const a = await ctx.createApp();
    const b = await ctx.createApp();
    assert.notEqual(a.id, b.id);
  });

  test('400 without displayName', async () => {
    await expectError(ctx.api.apps.createApp({}), 400, 'bad_request');
  });

  test('400 with an empty or a too long displayName', async () => {
    await expectError(ctx.api.apps.createApp({ displayName: '' }), 400, 'bad_request');
    await expectError(ctx.api.apps.createApp({ displayName: 'x'.repeat(101) }), 400, 'bad_request');
    await expectError(ctx.api.apps.createApp({ displayName: null }), 400, 'bad_request');
    await expectError(ctx.api.apps.createApp({ displayName: 42 }), 400, 'bad_request');
  });

  test('a displayName of 100 characters is accepted', async () => {
    const { response } = await ctx.api.apps.createAppWithHttpInfo({ displayName: 'y'.repeat(100) });
    assert.equal(response.status, 201);
  });

  test('400 with metadata over 4KB', async () => {
    await expectError(ctx.api.apps.createApp({ displayName: unique('big'), metadata: { blob: 'z'.repeat(5000) } }), 400, 'bad_request');
  });

  test('400 with a bad setting type', async () => {
    await expectError(ctx.api.apps.createApp({ displayName: unique('bad'), settings: { conversationRetentionSeconds: -1 } }), 400, 'bad_request');
    await expectError(ctx.api.apps.createApp({ displayName: unique('bad'), settings: { maskCreditCardNumbers: 'yes' } }), 400, 'bad_request');
  });

  test('400 on a body that is not JSON', async () => {
    await expectError(ctx.raw('POST', '/v2/apps', { body: '{"displayName":', contentTypes: ['application/json'] }), 400, 'bad_request');
  });
});

describe('GetApp', () => {
  let app;
  before(async () => { app = await ctx.createApp({ metadata: { k: 'v' } }); });

  test('200 with the app', async () => {
    const { data, response } = await ctx.api.apps.getAppWithHttpInfo(app.id);
    assert.equal(response.status, 200);
    assertApp(data.app, { id: app.id, displayName: app.displayName, metadata: { k: 'v' } });
    assert.deepEqual({ ...data.app.settings }, { ...app.settings });
  });

  test('404 app_not_found for an unknown app', async () => {
    await expectError(ctx.api.apps.getApp(unknownId()), 404, 'app_not_found');
  });
});

describe('UpdateApp', () => {
  test('changes displayName, settings and metadata', async () => {
    const app = await ctx.createApp({ metadata: { a: 1 } });
    const newName = unique('Renamed');
    const { data, response } = await ctx.api.apps.updateAppWithHttpInfo(app.id, {
      displayName: newName,
      settings: { maskCreditCardNumbers: false, conversationRetentionSeconds: 60 },
      metadata: { b: 'two' },
    });
    assert.equal(response.status, 200);
    assertApp(data.app, { id: app.id, displayName: newName });
    assert.equal(data.app.settings.maskCreditCardNumbers, false);
    assert.equal(data.app.settings.conversationRetentionSeconds, 60);
    assert.equal(data.app.metadata.b, 'two');

    const got = await ctx.api.apps.getApp(app.id);
    assert.equal(got.app.displayName, newName);
    assert.equal(got.app.settings.maskCreditCardNumbers, false);
    assert.equal(got.app.settings.conversationRetentionSeconds, 60);
    assert.equal(got.app.metadata.b, 'two');
  });

  test('a partial body keeps the other fields', async () => {
    const app = await ctx.createApp({ metadata: { keep: true } });
    const body = new SC.AppUpdateBody();
    body.settings = { echoPostback: true };
    const { data } = await ctx.api.apps.updateAppWithHttpInfo(app.id, body);
    assert.equal(data.app.displayName, app.displayName);
    assert.equal(data.app.settings.echoPostback, true);
    assert.deepEqual(data.app.metadata, { keep: true });
  });

  test('404 app_not_found for an unknown app', async () => {
    await expectError(ctx.api.apps.updateApp(unknownId(), { displayName: 'x' }), 404, 'app_not_found');
  });

  test('400 on a bad body', async () => {
    const app = await ctx.createApp();
    await expectError(ctx.api.apps.updateApp(app.id, { displayName: '' }), 400, 'bad_request');
    await expectError(ctx.api.apps.updateApp(app.id, { displayName: null }), 400, 'bad_request');
    await expectError(ctx.api.apps.updateApp(app.id, { metadata: { blob: 'z'.repeat(5000) } }), 400, 'bad_request');
  });
});

describe('DeleteApp', () => {
  test('200 with {}, then the app is gone', async () => {
    const app = await ctx.createApp();
    const { response } = await ctx.api.apps.deleteAppWithHttpInfo(app.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(ctx.api.apps.getApp(app.id), 404, 'app_not_found');
    const { apps } = await collectAllApps();
    assert.ok(!apps.some((a) => a.id === app.id), 'a deleted app is not listed');
  });

  test('404 app_not_found for an unknown or already deleted app', async () => {
    await expectError(ctx.api.apps.deleteApp(unknownId()), 404, 'app_not_found');
    const app = await ctx.createApp();
    await ctx.api.apps.deleteApp(app.id);
    await expectError(ctx.api.apps.deleteApp(app.id), 404, 'app_not_found');
  });

  test("deleting an app revokes its keys", async () => {
    const app = await ctx.createApp();
    const key = await ctx.createAppKey(app.id);
    await ctx.asKey(key).apps.getApp(app.id);
    await ctx.api.apps.deleteApp(app.id);
    await expectError(ctx.asKey(key).apps.getApp(app.id), 401, 'unauthorized');
  });
});

/** Follows links.next through every page of ListApps (page[size] as given). */
async function collectAllApps(size = 100) {
  const apps = [];
  const pages = [];
  let query = { 'page[size]': size };
  for (let i = 0; i < 1000; i += 1) {
    const { response } = await ctx.raw('GET', '/v2/apps', { query });
    assert.equal(response.status, 200);
    const body = response.body;
    pages.push(body);
    apps.push(...body.apps);
    if (!body.meta.hasMore) break;
    const next = new URL(body.links.next);
    query = Object.fromEntries(next.searchParams.entries());
    if (!query['page[size]']) query['page[size]'] = size;
  }
  return { apps, pages };
}

describe('ListApps', () => {
  const created = [];
  before(async () => {
    // Enough apps for the default page size (25) to overflow.
    for (let i = 0; i < 27; i += 1) created.push(await ctx.createApp({ displayName: unique(`list-${i}`) }));
  });

  test('200 with apps, meta and links; the default page size is 25', async () => {
    const { data, response } = await ctx.api.apps.listAppsWithHttpInfo();
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.AppListResponse);
    assert.ok(Array.isArray(data.apps));
    assert.equal(data.apps.length, 25);
    for (const a of data.apps) assertApp(a);
    assert.equal(data.meta.hasMore, true);
    assertId(data.meta.afterCursor, 'meta.afterCursor');
    assert.equal(typeof response.body.links, 'object');
    assert.equal(typeof data.links.next, 'string');
  });

  test('page[size] limits the page (client opts.page)', async () => {
    const { data } = await ctx.api.apps.listAppsWithHttpInfo({ page: { size: 2 } });
    assert.equal(data.apps.length, 2);
    assert.equal(data.meta.hasMore, true);
    assertId(data.meta.afterCursor, 'meta.afterCursor');
    assert.equal(data.meta.afterCursor, data.apps[1].id, 'afterCursor is the id of the last record');
    assert.equal(data.meta.beforeCursor, undefined, 'no beforeCursor on the first page');
    assert.equal(data.links.prev, undefined, 'no prev link on the first page');
    const next = new URL(data.links.next);
    assert.equal(next.origin, ctx.server.baseUrl, 'links are absolute URLs on this server');
    assert.equal(next.pathname, '/v2/apps');
    assert.equal(next.searchParams.get('page[after]'), data.meta.afterCursor);
  });

  test('page[after] continues after the cursor (client opts.page)', async () => {
    const first = await ctx.api.apps.listApps({ page: { size: 3 } });
    const second = await ctx.api.apps.listApps({ page: SC.Page.constructFromObject({ after: first.meta.afterCursor }) });
    assert.ok(second.apps.length > 0);
    const firstIds = new Set(first.apps.map((a) => a.id));
    assert.ok(second.apps.every((a) => !firstIds.has(a.id)), 'pages do not overlap');
    assert.notEqual(second.apps[0].id, first.apps[2].id);
  });

  test('walking links.next visits every app exactly once; the last page has hasMore false', async () => {
    const { apps, pages } = await collectAllApps(4);
    const ids = apps.map((a) => a.id);
    assert.equal(new Set(ids).size, ids.length, 'no app is listed twice');
    for (const c of created) assert.ok(ids.includes(c.id), `app ${c.id} is listed`);
    assert.ok(pages.length >= 7);
    for (const p of pages.slice(0, -1)) {
      assert.equal(p.apps.length, 4);
      assert.equal(p.meta.hasMore, true);
    }
    const last = pages[pages.length - 1];
    assert.equal(last.meta.hasMore, false);
    assert.equal(last.meta.afterCursor, undefined);
    assert.ok(!last.links || last.links.next === undefined, 'no next link on the last page');
    for (const p of pages.slice(1)) {
      assertId(p.meta.beforeCursor, 'meta.beforeCursor');
      assert.equal(typeof p.links.prev, 'string');
    }
  });

  test('page[before] returns the records before the cursor', async () => {
    const first = await ctx.raw('GET', '/v2/apps', { query: { 'page[size]': 3 } });
    const second = await ctx.raw('GET', '/v2/apps', { query: { 'page[size]': 3, 'page[after]': first.response.body.meta.afterCursor } });
    const s = second.response.body;
    assert.equal(s.apps.length, 3);
    assertId(s.meta.beforeCursor, 'meta.beforeCursor');
    const back = await ctx.raw('GET', '/v2/apps', { query: { 'page[size]': 3, 'page[before]': s.meta.beforeCursor } });
    assert.deepEqual(back.response.body.apps.map((a) => a.id), first.response.body.apps.map((a) => a.id));
  });

  test('400 on an out-of-range page[size]', async () => {
    await expectError(ctx.api.apps.listApps({ page: { size: 0 } }), 400, 'bad_request');
    await expectError(ctx.api.apps.listApps({ page: { size: 101 } }), 400, 'bad_request');
    await expectError(ctx.api.apps.listApps({ page: { size: 'many' } }), 400, 'bad_request');
  });

  test('page[size]=100 is accepted', async () => {
    const { data } = await ctx.api.apps.listAppsWithHttpInfo({ page: { size: 100 } });
    assert.ok(data.apps.length >= 27);
  });

  test('400 with both page[after] and page[before]', async () => {
    const a = created[0].id;
    await expectError(ctx.raw('GET', '/v2/apps', { query: { 'page[after]': a, 'page[before]': a } }), 400, 'bad_request');
  });

  test('400 on a malformed cursor', async () => {
    await expectError(ctx.api.apps.listApps({ page: { after: 'short' } }), 400, 'bad_request');
  });

  test('403 with a filter[serviceAccountId] that does not match the credentials', async () => {
    await expectError(ctx.api.apps.listApps({ filter: { serviceAccountId: 'svc_' + unknownId() } }), 403, 'forbidden');
  });
});

describe('Apps: scopes', () => {
  let app;
  let other;
  let key;
  before(async () => {
    app = await ctx.createApp();
    other = await ctx.createApp();
    key = await ctx.createAppKey(app.id);
  });

  test('an app key may GetApp and UpdateApp its own app', async () => {
    const api = ctx.asKey(key);
    const got = await api.apps.getApp(app.id);
    assert.equal(got.app.id, app.id);
    const { response } = await api.apps.updateAppWithHttpInfo(app.id, { metadata: { by: 'app key' } });
    assert.equal(response.status, 200);
  });

  test('an app key gets 403 on another app', async () => {
    const api = ctx.asKey(key);
    await expectError(api.apps.getApp(other.id), 403, 'forbidden');
    await expectError(api.apps.updateApp(other.id, { displayName: 'stolen' }), 403, 'forbidden');
  });

  test('an app key gets 403 on account-only operations', async () => {
    const api = ctx.asKey(key);
    await expectError(api.apps.createApp({ displayName: 'nope' }), 403, 'forbidden');
    await expectError(api.apps.listApps(), 403, 'forbidden');
    await expectError(api.apps.deleteApp(app.id), 403, 'forbidden');
  });
});
