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
