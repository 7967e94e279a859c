// lib.mjs -- what the browser tests share: a real `scry serve` on a free
// loopback port over a fresh data folder (like tests/e2e/conftest.py), and
// Debian's chromium driven headless by playwright-core (installed by
// scripts/setup.d/40-web.sh into deps/node; `npx playwright install` is
// never used). Chromium gets a fresh profile and every background service
// off: this machine's network refuses everything but loopback.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCRY = process.env.SCRY_BIN || path.join(REPO, 'build', 'scry');
export const DARKNET = '/usr/share/darknet/data';
export const SHOTS = process.env.SCRY_SCREENSHOTS || path.join(path.dirname(SCRY), 'screenshots');
const DEPS = process.env.SCRY_DEPS || path.join(REPO, 'deps');
const CHROMIUM = process.env.SCRY_CHROMIUM || '/usr/bin/chromium';

export const { chromium } = await import(path.join(DEPS, 'node', 'node_modules', 'playwright-core', 'index.mjs'));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

export async function startServer(args = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scry-browser-'));
  const port = await freePort();
  const logPath = path.join(dir, 'server.log');
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(SCRY, ['serve', '--data', path.join(dir, 'data'), '--port', String(port), '--workers', '2', ...args],
    { stdio: ['ignore', log, log] });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`scry exited with ${proc.exitCode}: ${fs.readFileSync(logPath, 'utf8').slice(-3000)}`);
    try { if ((await fetch(base + '/healthz')).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error('scry did not become healthy');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base, dir, proc,
    log: () => fs.readFileSync(logPath, 'utf8'),
    // SIGTERM and a clean exit: sanitizer reports at exit fail the test.
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      const done = new Promise((r) => proc.once('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      let timer;
      const code = await Promise.race([done, new Promise((r) => { timer = setTimeout(() => r('timeout'), 60000); })]);
      clearTimeout(timer);
      if (code === 'timeout') proc.kill('SIGKILL');
      fs.closeSync(log);
      if (code !== 0) throw new Error(`scry exited with ${code}: ${fs.readFileSync(logPath, 'utf8').slice(-3000)}`);
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

export async function launch(viewport = { width: 1280, height: 860 }) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'scry-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
  });
  const errors = [];
  const watch = (page) => {
    page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
    page.on('console', (m) => {
      // 4xx answers the app handles (404 /v1/session, a refused upload, a
      // bad query) are logged by the browser itself; anything else is a bug.
      if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
        errors.push('console: ' + m.text());
      }
    });
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.hostname !== '127.0.0.1' && u.protocol !== 'data:' && u.protocol !== 'blob:') errors.push('offsite request: ' + r.url());
    });
  };
  ctx.on('page', watch);
  const page = ctx.pages()[0] || await ctx.newPage();
  watch(page);
  return {
    ctx, page, errors,
    async close() { await ctx.close(); fs.rmSync(profile, { recursive: true, force: true }); },
  };
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

export function tempFile(name, contents) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scry-files-'));
  const p = path.join(dir, name);
  fs.writeFileSync(p, contents);
  return p;
}

// Figures for docs/web.md, printed as TAP comments (tests/run shows them).
export function figure(name, value, unit) {
  console.log(`# figure ${name}=${typeof value === 'number' ? value.toFixed(1) : value}${unit ? ' ' + unit : ''}`);
}
