'use strict';
// Tags "Switchboards" (CreateSwitchboard, ListSwitchboards, UpdateSwitchboard,
// DeleteSwitchboard), "Switchboard Integrations" (Create, List, Update, Delete) and
// "Switchboard Actions" (PassControl, OfferControl, AcceptControl, ReleaseControl), through
// the official client: the resources and their rules, conversations naming who is in
// control, integration-scope refusals, and the switchboard:* webhooks.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, SC, assertId, expectError, unknownId, unique } = require('../lib/harness');
const { startReceiver } = require('../lib/receiver');

const ctx = useServer({ env: { SUNBEAM_WEBHOOK_PUBLIC_ONLY: 'false' } });

const TRIGGERS = ['conversation:message', 'switchboard:passControl', 'switchboard:offerControl', 'switchboard:offerControl:failure', 'switchboard:acceptControl', 'switchboard:releaseControl'];

/** A custom integration posting TRIGGERS to `target`, and a client with its own key (integration scope). */
async function customIntegration(appId, target = 'https://example.org/sunbeam-switchboard') {
  const { integration } = await ctx.api.integrations.createIntegration(appId, { type: 'custom', displayName: unique('bot'), webhooks: [{ target, triggers: TRIGGERS }] });
  const { key } = await ctx.api.integrationKeys.createCustomIntegrationKey(appId, integration.id, { displayName: 'own' });
  return { integration, api: ctx.asKey(key) };
}

/** An app with a switchboard linking bot → agent (bot the default), enabled. */
async function board({ targets = [], standby = [false, false] } = {}) {
  const app = await ctx.createApp();
  const bot = await customIntegration(app.id, targets[0]);
  const agent = await customIntegration(app.id, targets[1]);
  const { switchboard } = await ctx.api.switchboards.createSwitchboard(app.id);
  const sbis = ctx.api.switchboardIntegrations;
  const a = (await sbis.createSwitchboardIntegration(app.id, switchboard.id, { name: 'agent', integrationId: agent.integration.id, deliverStandbyEvents: standby[1] })).switchboardIntegration;
  const b = (await sbis.createSwitchboardIntegration(app.id, switchboard.id, { name: 'bot', integrationId: bot.integration.id, deliverStandbyEvents: standby[0], nextSwitchboardIntegrationId: a.id })).switchboardIntegration;
  await ctx.api.switchboards.updateSwitchboard(app.id, switchboard.id, { enabled: true, defaultSwitchboardIntegrationId: b.id });
  return { app, switchboard, bot: { ...bot, sbi: b }, agent: { ...agent, sbi: a } };
}

async function control(appId, conversationId) {
  const { conversation } = await ctx.api.conversations.getConversation(appId, conversationId);
  const name = (s) => (s ? s.name : undefined);
  return [name(conversation.activeSwitchboardIntegration), name(conversation.pendingSwitchboardIntegration)];
}

describe('Switchboards', () => {
  test('CreateSwitchboard: 201, created disabled; a second one is 400', async () => {
    const app = await ctx.createApp();
    const { data, response } = await ctx.api.switchboards.createSwitchboardWithHttpInfo(app.id);
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.SwitchboardResponse);
    assertId(data.switchboard.id, 'switchboard.id');
    assert.equal(data.switchboard.enabled, false);
    const err = await expectError(ctx.api.switchboards.createSwitchboard(app.id), 400, 'bad_request');
    assert.equal(err.body.errors[0].title, 'Only one switchboard can be created per app');
    await expectError(ctx.api.switchboards.createSwitchboard(unknownId()), 404, 'app_not_found');
  });

  test('ListSwitchboards: none, then the one', async () => {
    const app = await ctx.createApp();
    assert.deepEqual((await ctx.api.switchboards.listSwitchboards(app.id)).switchboards, []);
    const { switchboard } = await ctx.api.switchboards.createSwitchboard(app.id);
    const { data } = await ctx.api.switchboards.listSwitchboardsWithHttpInfo(app.id);
    assert.ok(data instanceof SC.SwitchboardListResponse);
    assert.deepEqual(data.switchboards.map((s) => [s.id, s.enabled]), [[switchboard.id, false]]);
  });

  test('UpdateSwitchboard: enabling needs a default switchboard integration; 404 switchboard_not_found', async () => {
    const app = await ctx.createApp();
    const { switchboard } = await ctx.api.switchboards.createSwitchboard(app.id);
    await expectError(ctx.api.switchboards.updateSwitchboard(app.id, switchboard.id, { enabled: true }), 400, 'bad_request');
    await expectError(ctx.api.switchboards.updateSwitchboard(app.id, switchboard.id, { defaultSwitchboardIntegrationId: unknownId() }), 404, 'switchboard_integration_not_found');
    await expectError(ctx.api.switchboards.updateSwitchboard(app.id, unknownId(), { enabled: false }), 404, 'switchboard_not_found');
    const { integration } = await customIntegration(app.id);
    const { switchboardIntegration } = await ctx.api.switchboardIntegrations.createSwitchboardIntegration(app.id, switchboard.id, { name: 'bot', integrationId: integration.id });
    const { data } = await ctx.api.switchboards.updateSwitchboardWithHttpInfo(app.id, switchboard.id, { enabled: true, defaultSwitchboardIntegrationId: switchboardIntegration.id });
    assert.ok(data instanceof SC.SwitchboardResponse);
    assert.equal(data.switchboard.enabled, true);
    assert.equal(data.switchboard.defaultSwitchboardIntegrationId, switchboardIntegration.id);
  });

  test('DeleteSwitchboard: 200 {}, its integrations go with it; then 404', async () => {
    const app = await ctx.createApp();
    const { switchboard } = await ctx.api.switchboards.createSwitchboard(app.id);
    // (For operations whose response is a bare object the client hands back the text as
    // `data`; the parsed body is `response.body`, as the other tag files check it.)
    const { response } = await ctx.api.switchboards.deleteSwitchboardWithHttpInfo(app.id, switchboard.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    assert.deepEqual((await ctx.api.switchboards.listSwitchboards(app.id)).switchboards, []);
    await expectError(ctx.api.switchboards.deleteSwitchboard(app.id, switchboard.id), 404, 'switchboard_not_found');
    await expectError(ctx.api.switchboardIntegrations.listSwitchboardIntegrations(app.id, switchboard.id), 404, 'switchboard_not_found');
  });

  test('an integration key may not touch the switchboard (403); an app key may', async () => {
    const app = await ctx.createApp();
    const { api } = await customIntegration(app.id);
    await expectError(api.switchboards.listSwitchboards(app.id), 403, 'forbidden');
    await expectError(api.switchboards.createSwitchboard(app.id), 403, 'forbidden');
    const appApi = ctx.asJwt(await ctx.createAppKey(app.id), 'app');
    const { switchboard } = await appApi.switchboards.createSwitchboard(app.id);
    assertId(switchboard.id);
  });
});

describe('Switchboard Integrations', () => {
  test('CreateSwitchboardIntegration: by integrationId or integrationType, deliverStandbyEvents defaults to true', async () => {
    const app = await ctx.createApp();
    const { integration } = await customIntegration(app.id);
    const { integration: web } = await ctx.api.integrations.createIntegration(app.id, { type: 'web' });
    const { switchboard } = await ctx.api.switchboards.createSwitchboard(app.id);
    const { data, response } = await ctx.api.switchboardIntegrations.createSwitchboardIntegrationWithHttpInfo(app.id, switchboard.id, { name: 'bot', integrationId: integration.id });
    assert.equal(response.status, 201);
    assert.ok(data instanceof SC.SwitchboardIntegrationResponse);
    const bot = data.switchboardIntegration;
    assertId(bot.id);
    assert.deepEqual([bot.name, bot.integrationId, bot.integrationType, bot.deliverStandbyEvents], ['bot', integration.id, 'custom', true]);
    const { switchboardIntegration: site } = await ctx.api.switchboardIntegrations.createSwitchboardIntegration(app.id, switchboard.id,
      { name: 'web-site_1', integrationType: 'web', deliverStandbyEvents: false, nextSwitchboardIntegrationId: bot.id, messageHistoryCount: 5 });
    assert.deepEqual([site.integrationId, site.integrationType, site.deliverStandbyEvents, site.nextSwitchboardIntegrationId, site.messageHistoryCount], [web.id, 'web', false, bot.id, 5]);
  });

  test('CreateSwitchboardIntegration: 400 on bad bodies and clashes, 404 on unknown integrations and switchboards', async () => {
    const app = await ctx.createApp();
    const { integration } = await customIntegration(app.id);
    const { integration: other } = await customIntegration(app.id);
    const { switchboard } = await ctx.api.switchboards.createSwitchboard(app.id);
    const create = (body, sb = switchboard.id) => ctx.api.switchboardIntegrations.createSwitchboardIntegration(app.id, sb, body);
    await create({ name: 'bot', integrationId: integration.id });
    await expectError(create({ integrationId: other.id }), 400, 'bad_request');
    await expectError(create({ name: 'x' }), 400, 'bad_request');
    await expectError(create({ name: 'x', integrationId: other.id, integrationType: 'custom' }), 400, 'bad_request');
    await expectError(create({ name: 'not ok!', integrationId: other.id }), 400, 'bad_request');
    await expectError(create({ name: 'x', integrationId: other.id, messageHistoryCount: 0 }), 400, 'bad_request');
    await expectError(create({ name: 'bot', integrationId: other.id }), 400, 'bad_request');
    await expectError(create({ name: 'again', integrationId: integration.id }), 400, 'bad_request');
    await expectError(create({ name: 'x', integrationId: unknownId() }), 404, 'integration_not_found');
    await expectError(create({ name: 'x', integrationId: other.id }, unknownId()), 404, 'switchboard_not_found');
  });

  test('CreateSwitchboardIntegration: at most 10 (too_many_switchboard_integrations)', async () => {
    const app = await ctx.createApp();
    const { switchboard } = await ctx.api.switchboards.createSwitchboard(app.id);
    for (let i = 0; i < 10; i += 1) {
      const { integration } = await ctx.api.integrations.createIntegration(app.id, { type: 'web', displayName: `site ${i}` });
      await ctx.api.switchboardIntegrations.createSwitchboardIntegration(app.id, switchboard.id, { name: `site-${i}`, integrationId: integration.id });
    }
    const { integration } = await ctx.api.integrations.createIntegration(app.id, { type: 'web' });
    await expectError(ctx.api.switchboardIntegrations.createSwitchboardIntegration(app.id, switchboard.id, { name: 'site-10', integrationId: integration.id }), 400, 'too_many_switchboard_integrations');
  });

  test('ListSwitchboardIntegrations and UpdateSwitchboardIntegration', async () => {
    const b = await board();
    const sbis = ctx.api.switchboardIntegrations;
    const { data } = await sbis.listSwitchboardIntegrationsWithHttpInfo(b.app.id, b.switchboard.id);
    assert.ok(data instanceof SC.SwitchboardIntegrationListResponse);
    assert.deepEqual(data.switchboardIntegrations.map((s) => s.name), ['agent', 'bot']);
    assert.ok(data.switchboardIntegrations.every((s) => s instanceof SC.SwitchboardIntegration));
    const { switchboardIntegration } = await sbis.updateSwitchboardIntegration(b.app.id, b.switchboard.id, b.agent.sbi.id,
      { name: 'agents', deliverStandbyEvents: true, nextSwitchboardIntegrationId: b.bot.sbi.id, messageHistoryCount: 3 });
    assert.deepEqual([switchboardIntegration.name, switchboardIntegration.deliverStandbyEvents, switchboardIntegration.nextSwitchboardIntegrationId, switchboardIntegration.messageHistoryCount],
      ['agents', true, b.bot.sbi.id, 3]);
    await expectError(sbis.updateSwitchboardIntegration(b.app.id, b.switchboard.id, b.agent.sbi.id, { name: 'bot' }), 400, 'bad_request');
    await expectError(sbis.updateSwitchboardIntegration(b.app.id, b.switchboard.id, unknownId(), { name: 'x' }), 404, 'switchboard_integration_not_found');
  });

  test('DeleteSwitchboardIntegration: not the default, not anyone\'s next; then 200 {} and 404', async () => {
    const b = await board();
    const sbis = ctx.api.switchboardIntegrations;
    await expectError(sbis.deleteSwitchboardIntegration(b.app.id, b.switchboard.id, b.bot.sbi.id), 400, 'bad_request');
    await expectError(sbis.deleteSwitchboardIntegration(b.app.id, b.switchboard.id, b.agent.sbi.id), 400, 'bad_request');
    await sbis.updateSwitchboardIntegration(b.app.id, b.switchboard.id, b.bot.sbi.id, { nextSwitchboardIntegrationId: null });
    const { response } = await sbis.deleteSwitchboardIntegrationWithHttpInfo(b.app.id, b.switchboard.id, b.agent.sbi.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    await expectError(sbis.deleteSwitchboardIntegration(b.app.id, b.switchboard.id, b.agent.sbi.id), 404, 'switchboard_integration_not_found');
  });
});

describe('Switchboard Actions', () => {
  test('a new conversation starts with the default active; pass, offer, accept and release move control', async () => {
    const b = await board();
    const conversation = await ctx.createConversation(b.app.id);
    assert.ok(conversation.activeSwitchboardIntegration instanceof SC.SwitchboardIntegrationWebhook);
    assert.deepEqual({ ...conversation.activeSwitchboardIntegration },
      { id: b.bot.sbi.id, name: 'bot', integrationId: b.bot.integration.id, integrationType: 'custom' });
    assert.equal(conversation.pendingSwitchboardIntegration, undefined);
    const actions = ctx.api.switchboardActions;

    const { response } = await actions.passControlWithHttpInfo(b.app.id, conversation.id, { switchboardIntegration: 'next', metadata: { lang: 'en' } });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    assert.deepEqual(await control(b.app.id, conversation.id), ['agent', undefined]);
    await actions.offerControl(b.app.id, conversation.id, { switchboardIntegration: b.bot.sbi.id });
    assert.deepEqual(await control(b.app.id, conversation.id), ['agent', 'bot']);
    await actions.acceptControl(b.app.id, conversation.id, { metadata: { by: 'api' } });
    assert.deepEqual(await control(b.app.id, conversation.id), ['bot', undefined]);
    await actions.releaseControl(b.app.id, conversation.id);
    assert.deepEqual(await control(b.app.id, conversation.id), [undefined, undefined]);
    // The next message hands it back to the default.
    await ctx.api.messages.postMessage(b.app.id, conversation.id, { author: { type: 'business' }, content: { type: 'text', text: 'hi' } });
    assert.deepEqual(await control(b.app.id, conversation.id), ['bot', undefined]);
  });

  test('refusals: integration scope 403s, bad targets, no pending offer, unknown conversations', async () => {
    const b = await board();
    const conversation = await ctx.createConversation(b.app.id);
    const actions = ctx.api.switchboardActions;
    await expectError(b.agent.api.switchboardActions.releaseControl(b.app.id, conversation.id), 403, 'forbidden');
    await expectError(b.agent.api.switchboardActions.acceptControl(b.app.id, conversation.id, {}), 403, 'forbidden');
    await expectError(actions.acceptControl(b.app.id, conversation.id, {}), 400, 'bad_request');
    await expectError(actions.offerControl(b.app.id, conversation.id, { switchboardIntegration: 'bot' }), 400, 'bad_request');
    await expectError(actions.passControl(b.app.id, conversation.id, { switchboardIntegration: 'nobody' }), 404, 'switchboard_integration_not_found');
    await expectError(actions.passControl(b.app.id, conversation.id, { switchboardIntegration: 'custom' }), 400, 'bad_request');
    await expectError(actions.passControl(b.app.id, conversation.id, {}), 400, 'bad_request');
    await expectError(actions.passControl(b.app.id, unknownId(), { switchboardIntegration: 'bot' }), 404, 'conversation_not_found');
    // The bot, in control, may offer, and the agent, offered, accept; then the bot may not release.
    await b.bot.api.switchboardActions.offerControl(b.app.id, conversation.id, { switchboardIntegration: 'agent' });
    await b.agent.api.switchboardActions.acceptControl(b.app.id, conversation.id, {});
    await expectError(b.bot.api.switchboardActions.releaseControl(b.app.id, conversation.id), 403, 'forbidden');
    await b.agent.api.switchboardActions.releaseControl(b.app.id, conversation.id);
    assert.deepEqual(await control(b.app.id, conversation.id), [undefined, undefined]);
  });

  describe('webhooks', () => {
    let receiver;
    before(async () => { receiver = await startReceiver(); });
    after(async () => { if (receiver) await receiver.close(); });

    test('the active integration hears messages, a standby one does not, and both hear the switchboard events with their metadata', async () => {
      const botPath = `/${unique('bot')}`;
      const agentPath = `/${unique('agent')}`;
      const b = await board({ targets: [receiver.url(botPath), receiver.url(agentPath)] });
      const conversation = await ctx.createConversation(b.app.id);
      const events = (path) => receiver.events().filter((e) => e.request.path === path).map((e) => e.event);
      const text = (e) => e.payload.message && e.payload.message.content.text;

      await ctx.api.messages.postMessage(b.app.id, conversation.id, { author: { type: 'business' }, content: { type: 'text', text: 'for the bot' } });
      await b.bot.api.switchboardActions.passControl(b.app.id, conversation.id, { switchboardIntegration: 'next', metadata: { topic: 'billing' } });
      await ctx.api.messages.postMessage(b.app.id, conversation.id, { author: { type: 'business' }, content: { type: 'text', text: 'for the agent' } });
      await expectError(b.agent.api.switchboardActions.offerControl(b.app.id, conversation.id, { switchboardIntegration: 'agent' }), 400);
      await b.agent.api.switchboardActions.offerControl(b.app.id, conversation.id, { switchboardIntegration: 'bot' });
      // That last event reaches both; a conversation's events reach a webhook in order.
      const done = (path) => () => events(path).some((e) => e.type === 'switchboard:offerControl');
      await receiver.waitFor(done(botPath), 10000, 'the offer at the bot');
      await receiver.waitFor(done(agentPath), 10000, 'the offer at the agent');

      const story = (path) => events(path).map((e) => (text(e) ? `${e.type} ${text(e)}` : e.type));
      assert.deepEqual(story(botPath), ['conversation:message for the bot', 'switchboard:passControl', 'switchboard:offerControl:failure', 'switchboard:offerControl']);
      assert.deepEqual(story(agentPath), ['switchboard:passControl', 'conversation:message for the agent', 'switchboard:offerControl:failure', 'switchboard:offerControl']);
      const pass = events(agentPath)[0];
      assert.deepEqual(pass.payload.metadata, { topic: 'billing' });
      assert.deepEqual(pass.payload.conversation.activeSwitchboardIntegration, { id: b.agent.sbi.id, name: 'agent', integrationId: b.agent.integration.id, integrationType: 'custom' });
      const failure = events(agentPath)[2];
      assert.equal(failure.payload.error.code, 'switchboard_invalid_target');
      const offer = events(botPath)[3];
      assert.equal(offer.payload.conversation.activeSwitchboardIntegration.name, 'agent');
      assert.equal(offer.payload.conversation.pendingSwitchboardIntegration.name, 'bot');
      assert.equal(events(botPath)[0].payload.conversation.activeSwitchboardIntegration.name, 'bot');
    });
  });
});
