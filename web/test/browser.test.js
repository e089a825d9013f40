'use strict';
// The web messenger in a real browser: headless Debian chromium (CHROMIUM_PATH, default
// /usr/bin/chromium) driven by playwright-core, against the freshly built binary serving
// the bundle compiled into it (web/bundle/), started in a temporary folder. A visitor opens /web/demo, sends a message; the
// business sees it through the v2 API, types and replies; the reply and the typing
// indicator appear without a reload; the visitor logs in and the history follows them into
// a second browser context; the visitor attaches an image. Screenshots go to target/web-artifacts/.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { startServer } = require('./server');

const ROOT = path.resolve(__dirname, '..', '..');
const BUNDLE = path.resolve(__dirname, '..', 'bundle', 'messenger.js');
const ARTIFACTS = path.join(ROOT, 'target', 'web-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WAIT = 15000;

function signJwt(key, payload) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT', kid: key.id });
  const body = b64(payload);
  const sig = crypto.createHmac('sha256', key.secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

describe('web messenger in chromium', () => {
  let server;
  let browser;
  let app;
  let integration;
  let appKey;

  async function v2(method, p, body) {
    const auth = Buffer.from(`${server.accountKey.id}:${server.accountKey.secret}`).toString('base64');
    const res = await fetch(server.baseUrl + p, {
      method,
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => null);
    assert.ok(res.ok, `${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  before(async () => {
    server = await startServer();
    app = (await v2('POST', '/v2/apps', { displayName: 'Widget test' })).app;
    integration = (await v2('POST', `/v2/apps/${app.id}/integrations`, { type: 'web', displayName: 'Acme support' })).integration;
    appKey = (await v2('POST', `/v2/apps/${app.id}/keys`, { displayName: 'jwt' })).key;
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // playwright-core refuses --user-data-dir in launch() args: it gives every launch a
    // fresh temporary --user-data-dir itself (removed on close), and each newContext() is
    // isolated like an incognito profile: a second device for the login test.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (server) await server.stop();
  });

  const demoUrl = () => `${server.baseUrl}/web/demo?integrationId=${integration.id}`;

  async function openDemo(context) {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(demoUrl());
    await page.evaluate(() => window.Sunbeam.ready);
    assert.deepEqual(errors, []);
    return page;
  }

  const bubbles = (page) => page.locator('#sunbeam-messenger li.msg .bubble');

  test('the bundle and the demo page are served; a bad id shows the form', async () => {
    const js = await fetch(`${server.baseUrl}/web/messenger.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /javascript/);
    assert.equal(js.headers.get('x-sunbeam-bundle'), 'embedded');
    assert.ok(Buffer.from(await js.arrayBuffer()).equals(fs.readFileSync(BUNDLE)), 'the binary serves web/bundle/messenger.js');
    const form = await (await fetch(`${server.baseUrl}/web/demo`)).text();
    assert.match(form, /name="integrationId"/);
    const bad = await (await fetch(`${server.baseUrl}/web/demo?integrationId=<script>`)).text();
    assert.match(bad, /No web integration has that id/);
    assert.doesNotMatch(bad, /<script>/);
    const demo = await (await fetch(demoUrl())).text();
    assert.ok(demo.includes(`data-integration-id="${integration.id}"`));
    assert.ok(!demo.includes(server.accountKey.secret) && !demo.includes(appKey.secret), 'no secret in the page');
  });

  test('visitor and business talk; typing, reply, images, history and login follow the visitor', async () => {
    const visitor = await browser.newContext({ viewport: { width: 900, height: 720 } });
    const page = await openDemo(visitor);

    // Open with the launcher (keyboard-reachable, labelled), send with Enter.
    const launcher = page.getByRole('button', { name: 'Open chat' });
    await launcher.click();
    const dialog = page.getByRole('dialog', { name: 'Acme support' });
    await dialog.waitFor({ timeout: WAIT });
    const input = page.getByRole('textbox', { name: 'Type a message' });
    await input.fill('Hello, I need help with my order');
    await input.press('Enter');
    await bubbles(page).filter({ hasText: 'Hello, I need help with my order' }).waitFor({ timeout: WAIT });

    // The business finds the conversation and the message through the v2 API.
    const conversation = await page.evaluate(() => window.Sunbeam.getConversation());
    const user = await page.evaluate(() => window.Sunbeam.getUser());
    assert.ok(conversation && conversation._id, 'a conversation was created');
    const listed = await v2('GET', `/v2/apps/${app.id}/conversations/${conversation._id}/messages`);
    const mine = listed.messages.find((m) => m.content.text === 'Hello, I need help with my order');
    assert.ok(mine, 'the business sees the message');
    assert.equal(mine.author.type, 'user');
    assert.equal(mine.author.userId, user._id);

    // The reply appears without a reload. (Anonymous users get it live when the server
    // takes session tokens on /meta/subscribe; until then the widget polls.)
    await v2('POST', `/v2/apps/${app.id}/conversations/${conversation._id}/messages`, {
      author: { type: 'business', displayName: 'Sam' },
      content: { type: 'text', text: 'Hi! Happy to help: what is the order number?' },
    });
    await bubbles(page).filter({ hasText: 'what is the order number?' }).waitFor({ timeout: WAIT });

    // Login: the anonymous user becomes "ann-…", keeping the conversation, and the widget
    // subscribes to realtime with the JWT.
    const externalId = `ann-${crypto.randomBytes(4).toString('hex')}`;
    const jwt = signJwt(appKey, { scope: 'user', external_id: externalId });
    const loggedIn = await page.evaluate(([id, token]) => window.Sunbeam.login(id, token), [externalId, jwt]);
    assert.equal(loggedIn._id, user._id, 'upgraded in place');
    assert.equal(loggedIn.userId, externalId);
    await bubbles(page).filter({ hasText: 'what is the order number?' }).waitFor({ timeout: WAIT });
    await page.waitForFunction(() => window.Sunbeam.isRealtimeConnected(), null, { timeout: WAIT });

    // Typing shows live, and the next reply clears it.
    await v2('POST', `/v2/apps/${app.id}/conversations/${conversation._id}/activity`, { author: { type: 'business', displayName: 'Sam' }, type: 'typing:start' });
    await page.getByRole('status').filter({ hasText: 'is typing' }).waitFor({ timeout: WAIT });
    await page.screenshot({ path: path.join(ARTIFACTS, 'widget-typing.png') });
    await v2('POST', `/v2/apps/${app.id}/conversations/${conversation._id}/messages`, {
      author: { type: 'business', displayName: 'Sam' },
      content: { type: 'text', text: 'Found it, and here is the label:' },
    });
    await bubbles(page).filter({ hasText: 'here is the label' }).waitFor({ timeout: WAIT });
    assert.equal(await page.locator('#sunbeam-messenger .typing').textContent(), '', 'the reply clears the typing indicator');

    // Images and files received render as such.
    await v2('POST', `/v2/apps/${app.id}/conversations/${conversation._id}/messages`, {
      author: { type: 'business' },
      content: { type: 'image', mediaUrl: `${server.baseUrl}/files/label.png`, altText: 'Order label' },
    });
    await v2('POST', `/v2/apps/${app.id}/conversations/${conversation._id}/messages`, {
      author: { type: 'business' },
      content: { type: 'file', mediaUrl: `${server.baseUrl}/files/invoice-42.pdf`, altText: 'invoice-42.pdf' },
    });
    await page.getByRole('img', { name: 'Order label' }).waitFor({ timeout: WAIT });
    await page.getByRole('link', { name: 'File: invoice-42.pdf' }).waitFor({ timeout: WAIT });

    // Read receipt: the business reads, the visitor sees "Seen" under their last message.
    await input.fill('Thanks!');
    await input.press('Enter');
    await bubbles(page).filter({ hasText: 'Thanks!' }).waitFor({ timeout: WAIT });
    await v2('POST', `/v2/apps/${app.id}/conversations/${conversation._id}/activity`, { author: { type: 'business' }, type: 'conversation:read' });
    await page.locator('#sunbeam-messenger .read', { hasText: 'Seen' }).waitFor({ timeout: WAIT });

    await page.screenshot({ path: path.join(ARTIFACTS, 'widget.png') });

    // Keyboard: Escape closes and gives focus back to the launcher.
    await input.press('Escape');
    assert.equal(await dialog.isVisible(), false);
    assert.equal(await page.evaluate(() => document.getElementById('sunbeam-messenger').shadowRoot.activeElement.className), 'launcher');

    // A second browser context (another device): the history follows the login.
    const other = await browser.newContext({ viewport: { width: 900, height: 720 } });
    const page2 = await openDemo(other);
    assert.equal(await page2.evaluate(() => window.Sunbeam.getUser()), null, 'anonymous until login');
    await page2.evaluate(([id, token]) => window.Sunbeam.login(id, token), [externalId, jwt]);
    await page2.evaluate(() => window.Sunbeam.open());
    await bubbles(page2).filter({ hasText: 'Hello, I need help with my order' }).waitFor({ timeout: WAIT });
    await bubbles(page2).filter({ hasText: 'what is the order number?' }).waitFor({ timeout: WAIT });
    await page2.waitForFunction(() => window.Sunbeam.isRealtimeConnected(), null, { timeout: WAIT });

    // What the visitor sends from the second device reaches the first one live.
    const input2 = page2.getByRole('textbox', { name: 'Type a message' });
    await input2.fill('Sent from my phone');
    await input2.press('Enter');
    await page.evaluate(() => window.Sunbeam.open());
    await bubbles(page).filter({ hasText: 'Sent from my phone' }).waitFor({ timeout: WAIT });
    await page2.screenshot({ path: path.join(ARTIFACTS, 'widget-second-device.png') });

    // Logout clears the conversation from the page.
    await page2.evaluate(() => window.Sunbeam.logout());
    assert.equal(await bubbles(page2).count(), 0);
    assert.equal(await page2.evaluate(() => window.Sunbeam.getUser()), null);

    await visitor.close();
    await other.close();
  });

  test('the visitor attaches an image; the business sees it; a failed upload shows an error', async () => {
    const context = await browser.newContext();
    const page = await openDemo(context);
    await page.getByRole('button', { name: 'Open chat' }).click();
    // A real 1×1 PNG.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

    // The labelled button opens the file picker.
    const [chooser] = await Promise.all([
      page.waitForEvent('filechooser', { timeout: WAIT }),
      page.getByRole('button', { name: 'Attach a file' }).click(),
    ]);
    await chooser.setFiles({ name: 'pixel.png', mimeType: 'image/png', buffer: png });
    const img = page.locator('#sunbeam-messenger li.msg.mine .bubble img');
    await img.waitFor({ timeout: WAIT });
    const src = await img.getAttribute('src');
    assert.match(src, /\/attachments\/[^/]+\/pixel\.png$/);

    // The business sees an image message with that mediaUrl, and it serves the same bytes.
    const conversation = await page.evaluate(() => window.Sunbeam.getConversation());
    const user = await page.evaluate(() => window.Sunbeam.getUser());
    const listed = await v2('GET', `/v2/apps/${app.id}/conversations/${conversation._id}/messages`);
    const image = listed.messages.find((m) => m.content.type === 'image');
    assert.ok(image, `the business sees an image message: ${JSON.stringify(listed.messages)}`);
    assert.equal(image.content.mediaUrl, src);
    assert.equal(image.author.type, 'user');
    assert.equal(image.author.userId, user._id);
    const served = await fetch(image.content.mediaUrl);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), png);
    // The image loaded in the page.
    await page.waitForFunction(() => {
      const el = document.getElementById('sunbeam-messenger').shadowRoot.querySelector('li.msg.mine img');
      return el && el.complete && el.naturalWidth === 1;
    }, null, { timeout: WAIT });

    // A failed upload (the server refusing it as too large) shows an error in the widget.
    await page.route('**/conversations/*/files', (route) => route.fulfill({
      status: 413,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'payload_too_large', description: 'Payload too large' } }),
    }));
    await page.locator('#sunbeam-messenger input[type=file]').setInputFiles({ name: 'big.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4') });
    await page.getByRole('alert').filter({ hasText: 'Could not send big.pdf' }).waitFor({ timeout: WAIT });
    assert.equal(await page.locator('#sunbeam-messenger li.msg.mine').count(), 1, 'nothing else was posted');
    await page.screenshot({ path: path.join(ARTIFACTS, 'widget-attachment.png') });
    await context.close();
  });

  test('history pages back with "Load earlier messages"', async () => {
    const context = await browser.newContext();
    const page = await openDemo(context);
    await page.evaluate(() => window.Sunbeam.sendMessage('first'));
    const conversation = await page.evaluate(() => window.Sunbeam.getConversation());
    for (let i = 1; i <= 105; i += 1) {
      await v2('POST', `/v2/apps/${app.id}/conversations/${conversation._id}/messages`, { author: { type: 'business' }, content: { type: 'text', text: `answer ${i}` } });
    }
    await page.reload();
    await page.evaluate(() => window.Sunbeam.ready);
    await page.getByRole('button', { name: 'Open chat' }).click();
    await bubbles(page).filter({ hasText: /^answer 105$/ }).waitFor({ timeout: WAIT });
    assert.equal(await bubbles(page).filter({ hasText: /^first$/ }).count(), 0, 'the oldest message is not on the first page');
    const more = page.getByRole('button', { name: 'Load earlier messages' });
    await more.click();
    await bubbles(page).filter({ hasText: /^first$/ }).waitFor({ timeout: WAIT });
    assert.equal(await bubbles(page).count(), 106);
    assert.equal(await more.isVisible(), false);
    await context.close();
  });
});

describe('SUNBEAM_WEB_DIR', () => {
  test('overrides the compiled-in bundle when it holds the file, and falls back to it when not', async () => {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'sunbeam-web-dir-'));
    fs.writeFileSync(path.join(dir, 'messenger.js'), 'window.devBuild = true;\n');
    const server = await startServer({ env: { SUNBEAM_WEB_DIR: dir } });
    try {
      const res = await fetch(`${server.baseUrl}/web/messenger.js`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-sunbeam-bundle'), 'dir');
      assert.equal(await res.text(), 'window.devBuild = true;\n');
      // No map in the folder: the compiled-in one.
      const map = await fetch(`${server.baseUrl}/web/messenger.js.map`);
      assert.equal(map.status, 200);
      assert.equal(map.headers.get('x-sunbeam-bundle'), 'embedded');
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
