'use strict';
// Starts a Sunbeam server for one test file: the binary named by SUNBEAM_BIN (default
// ../target/debug/sunbeam, relative to conformance/), on 127.0.0.1 port 0, with a fresh
// SQLite database in a temporary folder (also its working directory) and a known account key. Resolves once the server
// prints its "Sunbeam listening on http://…" line; stop() ends it and removes the folder.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const DEFAULT_BIN = path.resolve(__dirname, '..', '..', 'target', 'debug', 'sunbeam');
const LISTENING = /Sunbeam listening on (http:\/\/[^\s]+)/;
const START_TIMEOUT_MS = Number(process.env.SUNBEAM_START_TIMEOUT_MS || 60000);

function binaryPath() {
  const bin = process.env.SUNBEAM_BIN ? path.resolve(process.env.SUNBEAM_BIN) : DEFAULT_BIN;
  if (!fs.existsSync(bin)) {
    throw new Error(`sunbeam binary not found at ${bin}: build it (cargo build --bin sunbeam) or set SUNBEAM_BIN`);
  }
  return bin;
}

/** A random account key the server is told to ensure at start-up. */
function newAccountKey() {
  return {
    id: 'act_' + crypto.randomBytes(12).toString('hex'),
    secret: crypto.randomBytes(24).toString('base64url'),
  };
}

/**
 * Starts the server. Options: `env` (extra environment variables for the server).
 * Returns { baseUrl, accountKey: {id, secret}, dataDir, output(), stop() }.
 */
async function startServer(options = {}) {
  const bin = binaryPath();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sunbeam-conformance-'));
  const accountKey = newAccountKey();

  // The server's environment: ours without any SUNBEAM_* setting (so a developer's shell
  // cannot change what the tests see), plus the test settings.
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SUNBEAM_') || k === 'SUNBEAM_LOG') env[k] = v;
  }
  Object.assign(env, {
    SUNBEAM_LISTEN: '127.0.0.1:0',
    SUNBEAM_DATABASE_URL: `sqlite://${path.join(dataDir, 'sunbeam.db')}`,
    SUNBEAM_DATA_DIR: dataDir,
    SUNBEAM_ACCOUNT_KEY_ID: accountKey.id,
    SUNBEAM_ACCOUNT_KEY_SECRET: accountKey.secret,
    // One key drives a whole suite as fast as it can: no rate limits here (tests/api/limits.rs tests them).
    SUNBEAM_RATE_LIMITS: 'off',
  }, options.env || {});

  // Started in its temporary folder: the binary needs nothing from the working directory.
  const child = spawn(bin, ['serve'], { env, cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { output += chunk; });

  const baseUrl = await new Promise((resolve, reject) => {
    let stdoutBuf = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sunbeam did not print its listening line within ${START_TIMEOUT_MS} ms; output:\n${output}`));
    }, START_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      stdoutBuf += chunk;
      const m = LISTENING.exec(stdoutBuf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/+$/, ''));
      }
    });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`sunbeam exited before listening (code ${code}, signal ${signal}); output:\n${output}`));
    });
  });

  // Do not let a test process that forgets stop() leave a server behind.
  const onExit = () => { if (!exited) child.kill('SIGKILL'); };
  process.on('exit', onExit);

  let stopping = null;
  async function stop() {
    if (stopping) return stopping;
    stopping = (async () => {
      process.removeListener('exit', onExit);
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 10000);
        await exitPromise;
        clearTimeout(timer);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  }

  /** Runs an operator subcommand (`sunbeam <args…>`) on this server's database. */
  function cli(args) {
    const { execFileSync } = require('node:child_process');
    return execFileSync(bin, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  return {
    baseUrl,
    accountKey,
    dataDir,
    cli,
    pid: child.pid,
    output: () => output,
    exited: () => exited,
    stop,
  };
}

module.exports = { startServer, binaryPath, DEFAULT_BIN };
