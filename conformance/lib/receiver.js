'use strict';
// A webhook target for tests: a local HTTP server on 127.0.0.1 that records every request
// (method, path, headers, parsed JSON body) and answers with a status chosen per request.

const http = require('node:http');

/**
 * startReceiver({ respond }) -> { url(path), requests, waitFor(pred, ms), close() }.
 * `respond(req, index)` returns the status for the index-th request (default 200).
 */
async function startReceiver({ respond } = {}) {
  const requests = [];
  const waiters = new Set();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { raw += chunk; });
    req.on('end', () => {
      let body;
      try { body = JSON.parse(raw); } catch { body = raw; }
      const entry = { method: req.method, path: req.url, headers: req.headers, body, at: Date.now() };
      const index = requests.length;
      requests.push(entry);
      const status = respond ? respond(entry, index) : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
      for (const w of waiters) w();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;

  /** Resolves with the requests once `pred(requests)` is truthy; rejects after `ms`. */
  function waitFor(pred, ms = 10000, what = 'webhook requests') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok = false;
        try { ok = pred(requests); } catch { ok = false; }
        if (ok) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${requests.length}: ${JSON.stringify(requests.map((r) => r.body)).slice(0, 2000)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  }

  /** The events received so far, flattened: [{ event, request }]. */
  function events() {
    const out = [];
    for (const r of requests) {
      for (const e of (r.body && Array.isArray(r.body.events) ? r.body.events : [])) out.push({ event: e, request: r });
    }
    return out;
  }

  return {
    base,
    url: (path = '/hook') => base + path,
    requests,
    events,
    waitFor,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

module.exports = { startReceiver };
