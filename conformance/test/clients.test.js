'use strict';
// Tags "Clients" and "Devices": CreateClient, ListClients, RemoveClient, ListDevices,
// GetDevice; and what depends on them: participants' clientAssociations and
// DeleteUserPersonalInformation.

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, assertTimestamp, expectError, unknownId, unique } = require('../lib/harness');

const ctx = useServer();

/** An app with a web integration and an SDK user on two installs. */
async function sdkFixture() {
  const app = await ctx.createApp();
  const { data } = await ctx.api.integrations.createIntegrationWithHttpInfo(app.id, { type: 'web' });
  const webId = data.integration.id;
  const user = await ctx.sdkUser(app.id, unique('browser'), { integrationId: webId, info: { vendor: 'smooch', userAgent: 'Firefox' } });
  const phone = unique('phone');
  const auth = 'Basic ' + Buffer.from(`${user.id}:${user.sessionToken}`).toString('base64');
  const put = await ctx.http('PUT', `/sdk/v2/apps/${app.id}/appusers/${user.id}/clients/${phone}`, {
    headers: { authorization: auth },
    body: { client: { platform: 'ios', integrationId: webId }, pushNotificationToken: 'token' },
  });
  assert.equal(put.status, 200, put.text);
  return { app, webId, user, phone };
}

describe('ListClients', () => {
  let f;
  before(async () => { f = await sdkFixture(); });

  test('200 with every SDK install as an sdk client', async () => {
    const { data, response } = await ctx.api.clients.listClientsWithHttpInfo(f.app.id, f.user.id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.ClientListResponse);
    assert.equal(data.clients.length, 2);
    for (const c of data.clients) {
      assertId(c.id, 'client.id');
      assert.equal(c.type, 'sdk');
      assert.equal(c.status, 'active');
      assertTimestamp(c.lastSeen, 'client.lastSeen');
      assertTimestamp(c.linkedAt, 'client.linkedAt');
    }
    assert.equal(data.meta.hasMore, false);
  });

  test('pages by cursor', async () => {
    const { data } = await ctx.api.clients.listClientsWithHttpInfo(f.app.id, f.user.id, { page: { size: 1 } });
    assert.equal(data.clients.length, 1);
    assert.equal(data.meta.hasMore, true);
    const next = await ctx.api.clients.listClientsWithHttpInfo(f.app.id, f.user.id, { page: { after: data.meta.afterCursor } });
    assert.equal(next.data.clients.length, 1);
    assert.notEqual(next.data.clients[0].id, data.clients[0].id);
  });

  test('400 on bad page parameters, 404 for an unknown user', async () => {
    await expectError(ctx.api.clients.listClients(f.app.id, f.user.id, { page: { after: 'short' } }), 400, 'bad_request');
    await expectError(ctx.api.clients.listClients(f.app.id, unique('nobody')), 404, 'user_not_found');
  });
});

describe('ListDevices and GetDevice', () => {
  let f;
  before(async () => { f = await sdkFixture(); });

  test('one device per install, the most recently seen first', async () => {
    const { data, response } = await ctx.api.devices.listDevicesWithHttpInfo(f.app.id, f.user.id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.DeviceListResponse);
    assert.equal(data.devices.length, 2);
    const [phone, browser] = data.devices;
    assert.equal(phone.guid, f.phone);
    assert.equal(phone.type, 'ios');
    assert.equal(phone.pushNotificationToken, 'token');
    assert.equal(browser.type, 'web');
    assert.equal(browser.integrationId, f.webId);
    assert.equal(browser.info.vendor, 'smooch');
    const clients = (await ctx.api.clients.listClients(f.app.id, f.user.id)).clients.map((c) => c.id);
    for (const d of data.devices) {
      assertId(d.id, 'device.id');
      assert.ok(clients.includes(d.clientId), `device.clientId ${d.clientId} is one of the user's clients`);
      assert.equal(d.status, 'active');
    }
  });

  test('GetDevice: 200 with the device, 404 device_not_found', async () => {
    const { devices } = await ctx.api.devices.listDevices(f.app.id, f.user.id);
    const { data, response } = await ctx.api.devices.getDeviceWithHttpInfo(f.app.id, f.user.id, devices[1].id);
    assert.equal(response.status, 200);
    assert.ok(data instanceof SC.DeviceResponse);
    assert.equal(data.device.id, devices[1].id);
    assert.equal(data.device.guid, devices[1].guid);
    await expectError(ctx.api.devices.getDevice(f.app.id, f.user.id, unknownId()), 404, 'device_not_found');
  });

  test('participants name their clients, primary (last seen) first', async () => {
    const { devices } = await ctx.api.devices.listDevices(f.app.id, f.user.id);
    const { data } = await ctx.api.participants.listParticipantsWithHttpInfo(f.app.id, f.user.conversationId);
    assert.deepEqual(data.participants[0].clientAssociations.map((a) => ({ type: a.type, clientId: a.clientId })), devices.map((d) => ({ type: 'sdk', clientId: d.clientId })));
  });
});

describe('CreateClient and RemoveClient', () => {
  let app, user, conversation, whatsappId;
  before(async () => {
    app = await ctx.createApp();
    const { data } = await ctx.api.integrations.createIntegrationWithHttpInfo(app.id, { type: 'whatsapp' });
    whatsappId = data.integration.id;
    user = await ctx.createUser(app.id, { externalId: unique('linker') });
    conversation = await ctx.createPersonalConversation(app.id, user);
  });

  const link = (integrationId, conversationId) => ({
    matchCriteria: { type: 'whatsapp', integrationId, primary: true, phoneNumber: '+1 212-555-2368' },
    confirmation: { type: 'immediate' },
    target: { conversationId },
  });

  test('201 with a pending client that says the link cannot complete', async () => {
    const { data, response } = await ctx.api.clients.createClientWithHttpInfo(app.id, user.id, link(whatsappId, conversation.id));
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.ClientResponse);
    assertId(data.client.id, 'client.id');
    assert.equal(data.client.type, 'whatsapp');
    assert.equal(data.client.status, 'pending');
    assert.equal(data.client.integrationId, whatsappId);
    assert.equal(response.body.client.raw.linkStatus, 'unavailable');
    const { clients } = await ctx.api.clients.listClients(app.id, user.externalId);
    assert.deepEqual(clients.map((c) => c.id), [data.client.id]);
  });

  test('refusals: 409 twice, 400 bad bodies and types, 404 unknown things', async () => {
    await expectError(ctx.api.clients.createClient(app.id, user.id, link(whatsappId, conversation.id)), 409, 'conflict');
    await expectError(ctx.api.clients.createClient(app.id, user.id, { matchCriteria: { type: 'telegram' } }), 400, 'bad_request');
    const mailgun = (await ctx.api.integrations.createIntegration(app.id, { type: 'mailgun', apiKey: 'k', domain: 'mg.example', incomingAddress: 'in@mg.example' })).integration.id;
    await expectError(ctx.api.clients.createClient(app.id, user.id, link(mailgun, conversation.id)), 400, 'bad_request');
    await expectError(ctx.api.clients.createClient(app.id, user.id, link(unknownId(), conversation.id)), 404, 'integration_not_found');
    await expectError(ctx.api.clients.createClient(app.id, user.id, link(whatsappId, unknownId())), 404, 'conversation_not_found');
  });

  test('RemoveClient: 200 {} for a channel client, 400 for an sdk one, 404 for none', async () => {
    const { clients } = await ctx.api.clients.listClients(app.id, user.id);
    const { data, response } = await ctx.api.clients.removeClientWithHttpInfo(app.id, user.id, clients[0].id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    assert.deepEqual((await ctx.api.clients.listClients(app.id, user.id)).clients, []);
    await expectError(ctx.api.clients.removeClient(app.id, user.id, unknownId()), 404, 'client_not_found');
    const f = await sdkFixture();
    const sdkClient = (await ctx.api.clients.listClients(f.app.id, f.user.id)).clients[0];
    const err = await expectError(ctx.api.clients.removeClient(f.app.id, f.user.id, sdkClient.id), 400, 'bad_request');
    assert.equal(err.body.errors[0].title, "Cannot remove a client of type 'sdk'");
  });
});

describe('DeleteUserPersonalInformation and clients', () => {
  test("clears each client's info along with the profile", async () => {
    const f = await sdkFixture();
    const { data, response } = await ctx.api.users.deleteUserPersonalInformationWithHttpInfo(f.app.id, f.user.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.user.profile, {});
    assert.equal(data.user.id, f.user.id);
    const { devices } = await ctx.api.devices.listDevices(f.app.id, f.user.id);
    for (const d of devices) assert.deepEqual(d.info, {});
    const list = await ctx.api.clients.listClientsWithHttpInfo(f.app.id, f.user.id);
    for (const c of list.response.body.clients) {
      assert.equal(c.displayName, null);
      assert.equal(c.avatarUrl, null);
    }
  });
});
