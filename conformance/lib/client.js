'use strict';
// The official client (sunshine-conversations-client, pinned in package.json) pointed at a
// Sunbeam server, plus small helpers the tag files share: one client per set of
// credentials, JWT signing, raw calls for what the client cannot express, and assertions.

const assert = require('node:assert/strict');
const jwt = require('jsonwebtoken');
const SunshineConversationsClient = require('sunshine-conversations-client');

const SC = SunshineConversationsClient;

/** The API classes of the client, by a short name. Tag files use `ctx.api.<name>`. */
const API_CLASSES = {
  activities: 'ActivitiesApi',
  appKeys: 'AppKeysApi',
  apps: 'AppsApi',
  attachments: 'AttachmentsApi',
  clients: 'ClientsApi',
  conversations: 'ConversationsApi',
  integrationKeys: 'CustomIntegrationApiKeysApi',
  devices: 'DevicesApi',
  integrations: 'IntegrationsApi',
  messages: 'MessagesApi',
  oauth: 'OAuthEndpointsApi',
  participants: 'ParticipantsApi',
  switchboardActions: 'SwitchboardActionsApi',
  switchboardIntegrations: 'SwitchboardIntegrationsApi',
  switchboards: 'SwitchboardsApi',
  users: 'UsersApi',
  webhooks: 'WebhooksApi',
};

/**
 * Configures an ApiClient: basePath, and credentials.
 * `auth` is one of: { basic: { id, secret } } | { bearer: token } | {} (no credentials).
 */
function configure(client, baseUrl, auth = {}) {
  client.basePath = baseUrl;
  client.timeout = 15000;
  const basic = client.authentications.basicAuth;
  const bearer = client.authentications.bearerAuth;
  basic.username = auth.basic ? auth.basic.id : undefined;
  basic.password = auth.basic ? auth.basic.secret : undefined;
  bearer.accessToken = auth.bearer;
  return client;
}

/** A fresh ApiClient (not the shared instance) with its own credentials. */
function newClient(baseUrl, auth) {
  return configure(new SC.ApiClient(), baseUrl, auth);
}

/**
 * The client rejects with { status, body, response, error }, whose inspection runs to
 * hundreds of lines. This turns it into an Error that reads "HTTP 400 POST /v2/…: {body}"
 * and keeps `status` and `body` (and `response`, not enumerable) for assertions.
 */
function conciseError(e) {
  if (!e || typeof e.status !== 'number' || e instanceof Error) return e;
  const req = e.response && e.response.req;
  const where = req ? `${req.method} ${req.path}` : '';
  const err = new Error(`HTTP ${e.status} ${where}: ${JSON.stringify(e.body)}`);
  err.status = e.status;
  err.body = e.body;
  Object.defineProperty(err, 'response', { value: e.response, enumerable: false });
  return err;
}

/** The API instance with every promise-returning method's rejections made concise. */
function wrapApi(api) {
  return new Proxy(api, {
    get(target, prop) {
      const v = target[prop];
      if (typeof v !== 'function') return v;
      return (...args) => {
        const r = v.apply(target, args);
        return r && typeof r.then === 'function' ? r.catch((e) => { throw conciseError(e); }) : r;
      };
    },
  });
}

/** An object with one instance of every API class, bound to `client`. */
function apisFor(client) {
  const apis = { client };
  for (const [name, cls] of Object.entries(API_CLASSES)) {
    apis[name] = wrapApi(new SC[cls](client));
  }
  return apis;
}

/** Signs an HS256 JWT the way the docs show: header kid = key id, payload { scope }. */
function signJwt(key, scope, { payload = {}, header = {}, ...options } = {}) {
  return jwt.sign({ scope, ...payload }, key.secret, {
    algorithm: 'HS256',
    header: { kid: key.id, ...header },
    ...options,
  });
}

/**
 * A call through the client's own machinery (ApiClient.callApi) for what its generated
 * methods cannot send: operations missing from client 14.1.0 (ListUsers), several
 * `page[...]` parameters at once (the client keeps only the first key of `page`), or
 * deliberately malformed bodies. Resolves { data, response } like the *WithHttpInfo methods.
 */
function rawCall(client, method, path, { pathParams = {}, query = {}, body = null, headers = {}, contentTypes } = {}) {
  const hasBody = body !== null && body !== undefined;
  return client.callApi(path, method, pathParams, query, headers, {}, hasBody ? body : null,
    ['basicAuth', 'bearerAuth'], contentTypes || (hasBody ? ['application/json'] : []), ['application/json'], Object, null)
    .catch((e) => { throw conciseError(e); });
}

// ---------------------------------------------------------------------------------------
// Assertions

const HEX24 = /^[0-9a-f]{24}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function assertId(id, what = 'id') {
  assert.equal(typeof id, 'string', `${what} should be a string, got ${JSON.stringify(id)}`);
  assert.match(id, HEX24, `${what} should be 24 hex characters`);
}

function assertTimestamp(ts, what = 'timestamp') {
  assert.equal(typeof ts, 'string', `${what} should be a string, got ${JSON.stringify(ts)}`);
  assert.match(ts, ISO_MS, `${what} should look like 2020-06-26T14:33:47.120Z`);
  assert.ok(!Number.isNaN(Date.parse(ts)), `${what} should parse as a date`);
}

/** The error envelope: { errors: [ { code, title } ] }. */
function assertErrorEnvelope(body) {
  assert.ok(body && Array.isArray(body.errors) && body.errors.length >= 1,
    `error body should be {errors:[…]}, got ${JSON.stringify(body)}`);
  for (const e of body.errors) {
    assert.equal(typeof e.code, 'string', `errors[].code should be a string in ${JSON.stringify(body)}`);
    assert.equal(typeof e.title, 'string', `errors[].title should be a string in ${JSON.stringify(body)}`);
  }
}

/**
 * Awaits a client call expected to fail, as the client surfaces it (a rejection with
 * `status` and the parsed `body`). Checks the status (a number, or an array of allowed
 * ones), the envelope and, when given,
 * errors[0].code. Returns the rejection.
 */
async function expectError(promiseOrFn, status, code) {
  let err;
  try {
    const p = typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn;
    const res = await p;
    const shown = res && res.response ? `${res.response.status} ${JSON.stringify(res.response.body)}` : JSON.stringify(res);
    assert.fail(`expected HTTP ${status}${code ? ` ${code}` : ''}, but the call succeeded: ${shown}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(err && typeof err.status === 'number',
    `expected an HTTP error, got ${err && (err.stack || JSON.stringify(err))}`);
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(err.status),
    `expected HTTP ${statuses.join(' or ')}${code ? ` ${code}` : ''}, got ${err.status} ${JSON.stringify(err.body)}`);
  assertErrorEnvelope(err.body);
  if (code) {
    assert.equal(err.body.errors[0].code, code, `errors[0].code for ${JSON.stringify(err.body)}`);
  }
  return err;
}

/** A well-formed id that names nothing. */
function unknownId() {
  return require('node:crypto').randomBytes(12).toString('hex');
}

/** A short unique suffix for names and external ids. */
let counter = 0;
function unique(prefix = 'x') {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

module.exports = {
  SunshineConversationsClient,
  SC,
  API_CLASSES,
  configure,
  newClient,
  apisFor,
  conciseError,
  signJwt,
  rawCall,
  assertId,
  assertTimestamp,
  assertErrorEnvelope,
  expectError,
  unknownId,
  unique,
  HEX24,
};
