'use strict';
// Tag "Users": CreateUser, ListUsers, GetUser, UpdateUser, DeleteUser,
// DeleteUserPersonalInformation. (SyncUser is Zendesk-only and not implemented.)
// Client 14.1.0 has no listUsers method, so ListUsers goes through the client's callApi.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, assertTimestamp, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

function assertUser(user) {
  assert.ok(user, 'user present');
  assertId(user.id, 'user.id');
  assertTimestamp(user.signedUpAt, 'user.signedUpAt');
  assert.equal(typeof user.profile, 'object');
  assert.notEqual(user.profile, null, 'user.profile is an object');
  assert.equal(typeof user.metadata, 'object');
  assert.notEqual(user.metadata, null, 'user.metadata is never null');
  assert.ok(Array.isArray(user.identities), 'user.identities is an array');
}

/** The wire form (response.body.user), which keeps the fields the client model drops. */
function wireUser(response) {
  return response.body.user;
}

function listUsers(appId, email, apis) {
  const query = email === undefined ? {} : { 'filter[identities.email]': email };
  return ctx.raw('GET', '/v2/apps/{appId}/users', { pathParams: { appId }, query }, apis);
}

describe('CreateUser', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('{} makes an anonymous user', async () => {
    const { data, response } = await ctx.api.users.createUserWithHttpInfo(app.id, {});
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.UserResponse);
    assertUser(data.user);
    const w = wireUser(response);
    assert.ok(w.externalId === null || w.externalId === undefined, 'no externalId');
    assert.equal(w.authenticated, false);
    assert.deepEqual(w.metadata, {});
    assert.deepEqual(w.identities, []);
  });

  test('a full body is echoed back', async () => {
    const externalId = unique('ext');
    const body = {
      externalId,
      signedUpAt: '2020-06-26T14:33:47.120Z',
      toBeRetained: true,
      profile: {
        givenName: 'Ada',
        surname: 'Lovelace',
        email: 'ada@example.org',
        avatarUrl: 'https://example.org/ada.png',
        locale: 'en-GB',
      },
      metadata: { plan: 'pro', visits: 3, vip: false },
    };
    const { data, response } = await ctx.api.users.createUserWithHttpInfo(app.id, body);
    assert.equal(response.status, 201);
    assertUser(data.user);
    assert.equal(data.user.externalId, externalId);
    assert.equal(data.user.signedUpAt, '2020-06-26T14:33:47.120Z');
    assert.deepEqual({ ...data.user.profile }, body.profile);
    assert.deepEqual(data.user.metadata, body.metadata);
    assert.equal(wireUser(response).toBeRetained, true);
  });

  test("the client's model classes as body", async () => {
    const body = new SC.UserCreateBody(unique('model'));
    body.profile = SC.Profile.constructFromObject({ givenName: 'Grace', surname: 'Hopper' });
    body.metadata = { lang: 'cobol' };
    const { data, response } = await ctx.api.users.createUserWithHttpInfo(app.id, body);
    assert.equal(response.status, 201);
    assert.equal(data.user.externalId, body.externalId);
    assert.equal(data.user.profile.givenName, 'Grace');
    assert.equal(data.user.profile.surname, 'Hopper');
  });

  test('Sunbeam extension: identities in the create body', async () => {
    const email = `${unique('id')}@example.org`;
    const { data } = await ctx.api.users.createUserWithHttpInfo(app.id, { identities: [{ type: 'email', value: email }] });
    assert.equal(data.user.identities.length, 1);
    assert.equal(data.user.identities[0].type, 'email');
    assert.equal(data.user.identities[0].value, email);
  });

  test('409 conflict on a duplicate externalId', async () => {
    const externalId = unique('dup');
    await ctx.createUser(app.id, { externalId });
    const err = await expectError(ctx.api.users.createUser(app.id, { externalId }), 409, 'conflict');
    assert.equal(typeof err.body.errors[0].title, 'string');
  });

  test('the same externalId may exist in another app', async () => {
    const externalId = unique('shared');
    const other = await ctx.createApp();
    const a = await ctx.createUser(app.id, { externalId });
    const b = await ctx.createUser(other.id, { externalId });
    assert.notEqual(a.id, b.id);
  });

  test('400 on bad bodies', async () => {
    await expectError(ctx.api.users.createUser(app.id, { externalId: '' }), 400, 'bad_request');
    await expectError(ctx.api.users.createUser(app.id, { externalId: 'e'.repeat(1025) }), 400, 'bad_request');
    await expectError(ctx.api.users.createUser(app.id, { externalId: 12 }), 400, 'bad_request');
    await expectError(ctx.api.users.createUser(app.id, { profile: { givenName: 'g'.repeat(129) } }), 400, 'bad_request');
    await expectError(ctx.api.users.createUser(app.id, { profile: { email: 'not an email' } }), 400, 'bad_request');
    await expectError(ctx.api.users.createUser(app.id, { profile: { avatarUrl: 'not a url' } }), 400, 'bad_request');
    await expectError(ctx.api.users.createUser(app.id, { signedUpAt: 'yesterday' }), 400, 'bad_request');
    await expectError(ctx.api.users.createUser(app.id, { metadata: { blob: 'm'.repeat(5000) } }), 400, 'bad_request');
    await expectError(ctx.api.users.createUser(app.id, { metadata: 'flat please' }), 400, 'bad_request');
  });

  test('400 on a body that is not a JSON object', async () => {
    await expectError(ctx.raw('POST', '/v2/apps/{appId}/users', { pathParams: { appId: app.id }, body: [1, 2] }), 400, 'bad_request');
    await expectError(ctx.raw('POST', '/v2/apps/{appId}/users', { pathParams: { appId: app.id }, body: '{nope', contentTypes: ['application/json'] }), 400, 'bad_request');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.users.createUser(unknownId(), {}), 404, 'app_not_found');
  });
});

describe('GetUser', () => {
  let app;
  let user;
  before(async () => {
    app = await ctx.createApp();
    user = await ctx.createUser(app.id, { externalId: unique('get'), profile: { givenName: 'Get' } });
  });

  test('by id', async () => {
    const { data, response } = await ctx.api.users.getUserWithHttpInfo(app.id, user.id);
    assert.equal(response.status, 200);
    assertUser(data.user);
    assert.equal(data.user.id, user.id);
    assert.equal(data.user.externalId, user.externalId);
    assert.equal(data.user.profile.givenName, 'Get');
  });

  test('by externalId', async () => {
    const { data } = await ctx.api.users.getUserWithHttpInfo(app.id, user.externalId);
    assert.equal(data.user.id, user.id);
  });

  test('an externalId needing URL encoding', async () => {
    const externalId = `odd id/${unique('x')}?&=#é`;
    const created = await ctx.createUser(app.id, { externalId });
    const { data } = await ctx.api.users.getUserWithHttpInfo(app.id, externalId);
    assert.equal(data.user.id, created.id);
    assert.equal(data.user.externalId, externalId);
  });

  test('404 user_not_found for an unknown user', async () => {
    await expectError(ctx.api.users.getUser(app.id, unknownId()), 404, 'user_not_found');
    await expectError(ctx.api.users.getUser(app.id, unique('nobody')), 404, 'user_not_found');
  });

  test("404 user_not_found for another app's user", async () => {
    const other = await ctx.createApp();
    await expectError(ctx.api.users.getUser(other.id, user.id), 404, 'user_not_found');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.users.getUser(unknownId(), user.id), 404, 'app_not_found');
  });
});

describe('UpdateUser', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('merges profile, replaces metadata; by id and by externalId', async () => {
    const user = await ctx.createUser(app.id, {
      externalId: unique('upd'),
      profile: { givenName: 'Old', surname: 'Name' },
      metadata: { a: 1 },
    });
    const { data, response } = await ctx.api.users.updateUserWithHttpInfo(app.id, user.id, {
      profile: { givenName: 'New', locale: 'fr' },
      metadata: { b: 2 },
    });
    assert.equal(response.status, 200);
    assertUser(data.user);
    assert.equal(data.user.id, user.id);
    assert.equal(data.user.externalId, user.externalId);
    assert.equal(data.user.profile.givenName, 'New');
    assert.equal(data.user.profile.surname, 'Name', 'fields not sent are kept');
    assert.equal(data.user.profile.locale, 'fr');
    assert.deepEqual(data.user.metadata, { b: 2 });

    const body = new SC.UserUpdateBody();
    body.signedUpAt = '2021-01-02T03:04:05.678Z';
    const viaExternal = await ctx.api.users.updateUserWithHttpInfo(app.id, user.externalId, body);
    assert.equal(viaExternal.data.user.signedUpAt, '2021-01-02T03:04:05.678Z');

    const got = await ctx.api.users.getUser(app.id, user.id);
    assert.equal(got.user.profile.givenName, 'New');
    assert.equal(got.user.signedUpAt, '2021-01-02T03:04:05.678Z');
    assert.deepEqual(got.user.metadata, { b: 2 });
  });

  test('toBeRetained can be changed', async () => {
    const user = await ctx.createUser(app.id, {});
    const { response } = await ctx.api.users.updateUserWithHttpInfo(app.id, user.id, { toBeRetained: true });
    assert.equal(wireUser(response).toBeRetained, true);
  });

  test('404 user_not_found for an unknown user', async () => {
    await expectError(ctx.api.users.updateUser(app.id, unknownId(), { metadata: {} }), 404, 'user_not_found');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.users.updateUser(unknownId(), unknownId(), { metadata: {} }), 404, 'app_not_found');
  });

  test('400 on bad bodies', async () => {
    const user = await ctx.createUser(app.id, {});
    await expectError(ctx.api.users.updateUser(app.id, user.id, { profile: { email: 'nope' } }), 400, 'bad_request');
    await expectError(ctx.api.users.updateUser(app.id, user.id, { profile: { surname: '' } }), 400, 'bad_request');
    await expectError(ctx.api.users.updateUser(app.id, user.id, { metadata: { blob: 'm'.repeat(5000) } }), 400, 'bad_request');
    await expectError(ctx.api.users.updateUser(app.id, user.id, { signedUpAt: 'later' }), 400, 'bad_request');
  });
});

describe('DeleteUser', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('by id: 200 with {}, then 404', async () => {
    const user = await ctx.createUser(app.id, {});
    const { response } = await ctx.api.users.deleteUserWithHttpInfo(app.id, user.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(ctx.api.users.getUser(app.id, user.id), 404, 'user_not_found');
    await expectError(ctx.api.users.deleteUser(app.id, user.id), 404, 'user_not_found');
  });

  test('by externalId; the externalId can then be reused', async () => {
    const externalId = unique('del');
    const user = await ctx.createUser(app.id, { externalId });
    const { response } = await ctx.api.users.deleteUserWithHttpInfo(app.id, externalId);
    assert.equal(response.status, 200);
    await expectError(ctx.api.users.getUser(app.id, externalId), 404, 'user_not_found');
    const again = await ctx.createUser(app.id, { externalId });
    assert.notEqual(again.id, user.id);
  });

  test('404 user_not_found for an unknown user; 404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.users.deleteUser(app.id, unknownId()), 404, 'user_not_found');
    await expectError(ctx.api.users.deleteUser(unknownId(), unknownId()), 404, 'app_not_found');
  });
});

describe('DeleteUserPersonalInformation', () => {
  let app;
  before(async () => { app = await ctx.createApp(); });

  test('clears profile and metadata, keeps the user and its id/externalId', async () => {
    const externalId = unique('pii');
    const user = await ctx.createUser(app.id, {
      externalId,
      profile: { givenName: 'Pat', surname: 'Doe', email: 'pat@example.org', avatarUrl: 'https://example.org/p.png', locale: 'en' },
      metadata: { secret: 'yes' },
    });
    const { data, response } = await ctx.api.users.deleteUserPersonalInformationWithHttpInfo(app.id, user.id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.UserResponse);
    assertUser(data.user);
    assert.equal(data.user.id, user.id);
    assert.equal(data.user.externalId, externalId);
    const w = wireUser(response);
    for (const f of ['givenName', 'surname', 'email', 'avatarUrl']) {
      assert.ok(w.profile[f] === undefined || w.profile[f] === null, `profile.${f} is cleared`);
    }
    assert.deepEqual(w.metadata, {});
    const got = await ctx.api.users.getUser(app.id, externalId);
    assert.equal(got.user.id, user.id);
    assert.equal(got.user.profile.givenName, undefined);
    assert.deepEqual(got.user.metadata, {});
  });

  test('by externalId', async () => {
    const externalId = unique('pii2');
    await ctx.createUser(app.id, { externalId, profile: { givenName: 'X' } });
    const { data } = await ctx.api.users.deleteUserPersonalInformationWithHttpInfo(app.id, externalId);
    assert.equal(data.user.externalId, externalId);
    assert.equal(data.user.profile.givenName, undefined);
  });

  test('404 user_not_found for an unknown user; 404 app_not_found on an unknown app', async () => {
    await expectError(ctx.api.users.deleteUserPersonalInformation(app.id, unknownId()), 404, 'user_not_found');
    await expectError(ctx.api.users.deleteUserPersonalInformation(unknownId(), unknownId()), 404, 'app_not_found');
  });
});

describe('ListUsers (filter[identities.email])', () => {
  let app;
  let email;
  let user;
  before(async () => {
    app = await ctx.createApp();
    email = `${unique('list')}@example.org`;
    user = await ctx.createUser(app.id, { identities: [{ type: 'email', value: email }] });
    // profile.email alone never matches.
    await ctx.createUser(app.id, { profile: { email } });
  });

  test('finds the users with that email identity', async () => {
    const { response } = await listUsers(app.id, email);
    assert.equal(response.status, 200);
    assert.ok(Array.isArray(response.body.users));
    assert.deepEqual(response.body.users.map((u) => u.id), [user.id]);
    assertUser(response.body.users[0]);
  });

  test('no match lists []', async () => {
    const { response } = await listUsers(app.id, 'nobody@example.org');
    assert.deepEqual(response.body.users, []);
  });

  test('400 without the filter', async () => {
    await expectError(listUsers(app.id, undefined), 400, 'bad_request');
  });

  test('404 app_not_found on an unknown app', async () => {
    await expectError(listUsers(unknownId(), email), 404, 'app_not_found');
  });
});

describe('Users: scopes', () => {
  let app;
  let other;
  let key;
  before(async () => {
    app = await ctx.createApp();
    other = await ctx.createApp();
    key = await ctx.createAppKey(app.id);
  });

  test('an app key (basic) runs every Users operation on its own app', async () => {
    const api = ctx.asKey(key);
    const externalId = unique('scoped');
    const created = await api.users.createUserWithHttpInfo(app.id, { externalId, identities: [{ type: 'email', value: `${externalId}@example.org` }] });
    assert.equal(created.response.status, 201);
    const id = created.data.user.id;
    assert.equal((await api.users.getUser(app.id, id)).user.id, id);
    assert.equal((await api.users.updateUser(app.id, externalId, { metadata: { x: 1 } })).user.metadata.x, 1);
    const listed = await listUsers(app.id, `${externalId}@example.org`, api);
    assert.equal(listed.response.body.users.length, 1);
    assert.equal((await api.users.deleteUserPersonalInformation(app.id, id)).user.id, id);
    assert.equal((await api.users.deleteUserWithHttpInfo(app.id, id)).response.status, 200);
  });

  test('an app-scoped JWT works too', async () => {
    const api = ctx.asJwt(key, 'app');
    const { response } = await api.users.createUserWithHttpInfo(app.id, {});
    assert.equal(response.status, 201);
  });

  test('an app key gets 403 on another app', async () => {
    const api = ctx.asKey(key);
    const victim = await ctx.createUser(other.id, { externalId: unique('victim') });
    await expectError(api.users.createUser(other.id, {}), 403, 'forbidden');
    await expectError(api.users.getUser(other.id, victim.id), 403, 'forbidden');
    await expectError(api.users.updateUser(other.id, victim.id, { metadata: {} }), 403, 'forbidden');
    await expectError(api.users.deleteUser(other.id, victim.id), 403, 'forbidden');
    await expectError(api.users.deleteUserPersonalInformation(other.id, victim.id), 403, 'forbidden');
    await expectError(listUsers(other.id, 'a@example.org', api), 403, 'forbidden');
    // Nothing happened to the victim.
    assert.equal((await ctx.api.users.getUser(other.id, victim.id)).user.id, victim.id);
  });

  test('401 without or with wrong credentials', async () => {
    await expectError(ctx.as({}).users.createUser(app.id, {}), 401, 'unauthorized');
    await expectError(ctx.as({ basic: { id: key.id, secret: 'wrong-secret-value' } }).users.createUser(app.id, {}), 401, 'unauthorized');
  });
});
