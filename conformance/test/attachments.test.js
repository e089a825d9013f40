'use strict';
// Tag "Attachments": UploadAttachment (multipart `source`, `access`, `for`, `conversationId`)
// and DeleteAttachment, through the client's AttachmentsApi; the files are served back at
// their mediaUrl, and messages that reference them carry their mediaType and mediaSize.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { useServer, expectError } = require('../lib/harness');

const ctx = useServer();

// A tiny PNG (the first bytes are what Sunbeam sniffs the type from).
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('conformance png bytes')]);

describe('UploadAttachment and DeleteAttachment', () => {
  let app;
  let conversation;
  let dir;
  /** A file on disk, as the client sends it: an fs.ReadStream. */
  const file = (name, bytes) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return fs.createReadStream(p);
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sunbeam-attachments-'));
    app = await ctx.createApp();
    conversation = await ctx.createConversation(app.id, {});
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('an upload answers 201 with mediaUrl and mediaType, and is served back with ranges', async () => {
    const { data, response } = await ctx.api.attachments.uploadAttachmentWithHttpInfo(app.id, 'public', file('photo.png', PNG), {});
    assert.equal(response.status, 201);
    assert.equal(data.attachment.mediaType, 'image/png');
    assert.match(data.attachment.mediaUrl, /\/attachments\/[0-9a-f]{24}\/photo\.png$/);
    const served = await fetch(data.attachment.mediaUrl);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), 'image/png');
    assert.ok(served.headers.get('etag'));
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), PNG);
    const part = await fetch(data.attachment.mediaUrl, { headers: { range: 'bytes=0-3' } });
    assert.equal(part.status, 206);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), PNG.subarray(0, 4));
  });

  test('access must be public; for may only be message', async () => {
    await expectError(ctx.api.attachments.uploadAttachment(app.id, 'private', file('a.txt', 'x'), {}), 400, 'bad_request');
    await expectError(ctx.api.attachments.uploadAttachment(app.id, 'public', file('b.txt', 'x'), { _for: 'avatar' }), 400, 'bad_request');
  });

  test('a for=message upload gives its message mediaType and mediaSize and is deleted with it', async () => {
    const opts = { _for: 'message', conversationId: conversation.id };
    const { attachment } = await ctx.api.attachments.uploadAttachment(app.id, 'public', file('cat.png', PNG), opts);
    const { messages } = await ctx.api.messages.postMessage(app.id, conversation.id, {
      author: { type: 'business' },
      content: { type: 'image', mediaUrl: attachment.mediaUrl },
    });
    assert.equal(messages[0].content.mediaType, 'image/png');
    assert.equal(messages[0].content.mediaSize, PNG.length);
    await ctx.api.messages.deleteMessage(app.id, conversation.id, messages[0].id);
    assert.equal((await fetch(attachment.mediaUrl)).status, 404);
  });

  test('DeleteAttachment by mediaUrl: 200 {}, then 404; a foreign URL is a 400', async () => {
    const { attachment } = await ctx.api.attachments.uploadAttachment(app.id, 'public', file('gone.txt', 'bye'), {});
    const { response } = await ctx.api.attachments.deleteAttachmentWithHttpInfo(app.id, { mediaUrl: attachment.mediaUrl });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, {});
    assert.equal((await fetch(attachment.mediaUrl)).status, 404);
    await expectError(ctx.api.attachments.deleteAttachment(app.id, { mediaUrl: attachment.mediaUrl }), 404, 'not_found');
    await expectError(ctx.api.attachments.deleteAttachment(app.id, { mediaUrl: 'https://example.com/x.png' }), 400, 'bad_request');
  });
});
