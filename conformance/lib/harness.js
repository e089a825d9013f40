'use strict';
// One server per test file. In a tag file:
//
//   const { useServer } = require('../lib/harness');
//   const ctx = useServer();            // registers before/after hooks
//   test('…', async () => { const { data } = await ctx.api.apps.createAppWithHttpInfo({ displayName: 'x' }); });
//
// ctx.api.<name> are the client's API classes on the shared ApiClient.instance, logged in
// with the account key (basic auth). ctx.as({basic}|{bearer}|{}) gives the same set for
// other credentials. Fixture helpers (createApp, createAppKey, createUser) return the
// deserialized resources.

const { before, after } = require('node:test');
const { startServer } = require('./server');
const client = require('./client');

const { SC, configure, newClient, apisFor, signJwt, rawCall } = client;

function useServer(options = {}) {
  const ctx = {
    server: null,
    account: null,
    api: null,
    /** The API classes with other credentials: { basic: {id, secret} } | { bearer } | {}. */
    as(auth) {
      return apisFor(newClient(ctx.server.baseUrl, auth));
    },
    /** Basic auth with a key ({ id, secret }). */
    asKey(key) {
      return ctx.as({ basic: { id: key.id, secret: key.secret } });
    },
    /** Bearer auth with a JWT signed by `key` for `scope`. */
    asJwt(key, scope, jwtOptions) {
      return ctx.as({ bearer: signJwt(key, scope, jwtOptions) });
    },
    /** A raw call through the client's callApi (account credentials unless `apis` given). */
    raw(method, path, opts = {}, apis = ctx.api) {
      return rawCall(apis.client, method, path, opts);
    },
    /** Runs an operator subcommand against the server's database; returns its stdout. */
    cli(args) {
      return ctx.server.cli(args);
    },
    /** A raw HTTP request with fetch (for what is not the business API: SDK, OAuth pages). */
    async http(method, path, { headers = {}, body, form, redirect = 'manual' } = {}) {
      const init = { method, headers: { ...headers }, redirect };
      if (form) {
        init.body = new URLSearchParams(form).toString();
        init.headers['content-type'] = 'application/x-www-form-urlencoded';
      } else if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers['content-type'] = 'application/json';
      }
      const res = await fetch(ctx.server.baseUrl + path, init);
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
      return { status: res.status, headers: res.headers, text, json };
    },
    /** An anonymous SDK user made the way the Web Messenger makes one, with its browser id. */
    async sdkUser(appId, browserId, client = {}) {
      const res = await ctx.http('POST', `/sdk/v2/apps/${appId}/appusers`, {
        body: { intent: 'conversation:start', client: { id: browserId, platform: 'web', ...client } },
      });
      if (res.status !== 201) throw new Error(`SDK user: ${res.status} ${res.text}`);
      return { id: res.json.appUser._id, sessionToken: res.json.sessionToken, conversationId: res.json.conversation._id };
    },
    async createApp(body = {}) {
      const { data } = await ctx.api.apps.createAppWithHttpInfo({ displayName: client.unique('app'), ...body });
      return data.app;
    },
    async createAppKey(appId, displayName = client.unique('key')) {
      const { data } = await ctx.api.appKeys.createAppKeyWithHttpInfo(appId, { displayName });
      return data.key;
    },
    async createUser(appId, body = {}) {
      const { data } = await ctx.api.users.createUserWithHttpInfo(appId, body);
      return data.user;
    },
    /** A conversation from `body` (an empty sdkGroup by default). */
    async createConversation(appId, body = {}) {
      const { data } = await ctx.api.conversations.createConversationWithHttpInfo(appId, { type: 'sdkGroup', ...body });
      return data.conversation;
    },
    async createPersonalConversation(appId, user, body = {}) {
      return ctx.createConversation(appId, { type: 'personal', participants: [{ userId: user.id }], ...body });
    },
    /**
     * Whether an operation is implemented in this build: false when the server answers
     * 400 "… not implemented yet" (the placeholder of features still being built), true
     * for any other outcome. Tag files use it to skip, visibly, tests of a missing feature.
     */
    /** Feature name -> false when its probe answered "not implemented yet". */
    features: {},
    /**
     * Registers a probe (run once, before the tests, after the server starts); tests then
     * call `if (ctx.missing(t, name)) return;` to be skipped, visibly, while the server
     * answers that the feature is not implemented yet.
     */
    requireFeature(name, probe) {
      before(async () => { ctx.features[name] = await ctx.implemented(probe); });
    },
    missing(t, name) {
      if (ctx.features[name] === false) {
        t.skip(`${name} is not implemented in this build`);
        return true;
      }
      return false;
    },
    async implemented(fn) {
      try {
        await fn();
        return true;
      } catch (e) {
        const title = e && e.body && e.body.errors && e.body.errors[0] && e.body.errors[0].title;
        return !(e && e.status === 400 && /not implemented/i.test(String(title)));
      }
    },
  };

  before(async () => {
    ctx.server = await startServer(options);
    ctx.account = ctx.server.accountKey;
    // The shared instance, set up as the client's README shows.
    const defaultClient = SC.ApiClient.instance;
    configure(defaultClient, ctx.server.baseUrl, { basic: ctx.account });
    ctx.api = apisFor(defaultClient);
  });

  after(async () => {
    if (!ctx.server) return;
    const exited = ctx.server.exited();
    if (exited || process.env.SUNBEAM_CONFORMANCE_VERBOSE) {
      process.stderr.write(`--- sunbeam output (${exited ? `exited early: ${JSON.stringify(exited)}` : 'verbose'}) ---\n${ctx.server.output()}\n`);
    }
    await ctx.server.stop();
  });

  return ctx;
}

module.exports = { useServer, ...client };
