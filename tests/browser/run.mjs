// Browser tests of the Settings Center: a real Tessera server on a temporary SQLite store,
// Debian's chromium driven by playwright-core, every outcome checked over the API too.
//
//   node tests/browser/run.mjs          (TESSERA_BIN overrides target/debug/tessera,
//                                        CHROMIUM_BIN overrides /usr/bin/chromium)
//
// Screenshots of every page go to docs/screenshots/<page>-<width>.png at 375 and 1440 px.
// Issue 15's defects 1-9 each have a step here ("defect N: …").
// Pages that scroll sideways at 375 px are listed at the end (reported, not failed);
// a form control without a label fails the run.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { operatorConsoleSteps } from './console.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const BIN = process.env.TESSERA_BIN || join(repo, 'target', 'debug', 'tessera');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = join(repo, 'docs', 'screenshots');
const PASSWORD = 'correct horse battery staple';
const EMAIL = 'ada@example.com';
const REDIRECT = 'https://partner.example/callback';
const LEGACY_EMAIL = 'integration@acme.example';
const LEGACY_PASSWORD = 'legacy basic password';
const WIDE = { width: 1440, height: 900 };
const NARROW = { width: 375, height: 812 };

// ---------------------------------------------------------------- harness

const results = [];
const layoutProblems = [];
const screenshots = [];
const pageErrors = [];
const knownBugs = [];
// Known dashboard bugs are worked around and listed at the end; TESSERA_BROWSER_STRICT=1
// fails the run on them instead.
function knownBug(what) {
  knownBugs.push(what);
  if (process.env.TESSERA_BROWSER_STRICT === '1') throw new Error(`known dashboard bug (strict mode): ${what}`);
  console.log(`     KNOWN BUG: ${what}`);
}

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push({ name, ok: false, err });
    console.log(`FAIL ${name}\n${indent(err && err.stack ? err.stack : String(err))}`);
    throw new StepFailed(name);
  }
}

class StepFailed extends Error {}

function indent(s) {
  return s.split('\n').map((l) => `     ${l}`).join('\n');
}

async function poll(what, fn, timeoutMs = 5000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

// ---------------------------------------------------------------- server and CLI

const tmp = mkdtempSync(join(tmpdir(), 'tessera-browser-'));
const env = {
  ...process.env,
  TESSERA_DATA_DIR: tmp,
  TESSERA_DATABASE: `sqlite://${tmp}/tessera.db`,
  TESSERA_ARGON2_MEMORY_KIB: '1024',
  TESSERA_ARGON2_ITERATIONS: '1',
};
const DB = ['--database', `sqlite://${tmp}/tessera.db`];
let server;
let serverLog = join(tmp, 'server.log');
let base;

function cli(args, input) {
  const r = spawnSync(BIN, [...args, ...DB, '--json'], { env, input, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`tessera ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout);
}

async function startServer() {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = createWriteStream(serverLog);
  server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--issuer', base], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  let exited = null;
  server.on('exit', (code, signal) => { exited = { code, signal }; });
  await poll('GET /health', async () => {
    if (exited) throw new Error(`tessera serve exited early (${JSON.stringify(exited)})`);
    try {
      const r = await fetch(`${base}/health`);
      return r.ok;
    } catch {
      return false;
    }
  }, 30000, 100);
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const gone = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

// ---------------------------------------------------------------- API helpers

function basic(id, secret) {
  return 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');
}

/** HTTP Basic as legacy integrations send it (RFC 7617: no form-encoding). */
function legacyBasic(email, password) {
  return 'Basic ' + Buffer.from(`${email}:${password}`).toString('base64');
}

async function token(form, headers = {}) {
  const r = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = { raw: text }; }
  return { status: r.status, body };
}

async function books(accessToken) {
  const r = await fetch(`${base}/v1/books`, { headers: { authorization: `Bearer ${accessToken}` } });
  await r.arrayBuffer();
  return r.status;
}

function jwtClaims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

// ---------------------------------------------------------------- page helpers

/** Clicks something that submits or navigates, and returns the final main response. */
async function go(page, locator) {
  const nav = page.waitForNavigation({ waitUntil: 'load' });
  await locator.click();
  return nav;
}

/** Screenshots at both widths, the 375 px overflow check and the label check. */
async function capture(page, name) {
  await page.setViewportSize(NARROW);
  await page.evaluate(() => document.fonts && document.fonts.ready);
  const overflow = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    offenders: [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > 375.5)
      .slice(0, 4)
      .map((el) => el.tagName.toLowerCase() + (el.id ? `#${el.id}` : '') +
        (el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : '')),
  }));
  if (overflow.scrollWidth > 375) {
    layoutProblems.push({ page: name, scrollWidth: overflow.scrollWidth, offenders: overflow.offenders });
  }
  const file375 = join(SHOTS, `${name}-375.png`);
  await page.screenshot({ path: file375, fullPage: true });
  await page.setViewportSize(WIDE);
  const file1440 = join(SHOTS, `${name}-1440.png`);
  await page.screenshot({ path: file1440, fullPage: true });
  screenshots.push(`${name}-375.png`, `${name}-1440.png`);
  await checkLabels(page, name);
}

async function checkLabels(page, name) {
  const unlabeled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden' && !el.hidden)
      .filter((el) => {
        if (el.labels && [...el.labels].some((l) => l.textContent.trim() !== '')) return false;
        if ((el.getAttribute('aria-label') || '').trim() !== '') return false;
        const by = el.getAttribute('aria-labelledby');
        if (by && by.split(/\s+/).some((id) => document.getElementById(id)?.textContent.trim())) return false;
        return true;
      })
      .map((el) => el.outerHTML.slice(0, 120)));
  assert.deepEqual(unlabeled, [], `${name}: form controls without a label`);
  const nameless = await page.evaluate(() =>
    [...document.querySelectorAll('button, a[href]')]
      .filter((el) => el.getClientRects().length > 0)
      .filter((el) => (el.textContent || '').trim() === '' && !(el.getAttribute('aria-label') || '').trim())
      .map((el) => el.outerHTML.slice(0, 120)));
  assert.deepEqual(nameless, [], `${name}: buttons or links without a name`);
  const lang = await page.evaluate(() => document.documentElement.lang);
  assert.ok(lang, `${name}: <html> has no lang`);
}

/** Words of up to 24 characters that the layout splits across two lines (issue 15, defect
 *  5: "Stat/e", "book/s:read"); longer tokens such as ids may break. */
async function brokenWords(page) {
  return page.evaluate(() => {
    const out = [];
    const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const re = /\S+/g;
      let m;
      while ((m = re.exec(n.data))) {
        if (m[0].length > 24) continue;
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const lines = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
        if (lines.size > 1) out.push(m[0]);
      }
    }
    return out;
  });
}

async function text(locator) {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

// ---------------------------------------------------------------- the run

async function main() {
  assert.ok(existsSync(BIN), `no server binary at ${BIN}: run \`cargo build -p tessera\` (or set TESSERA_BIN)`);
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: \`apt-get install -y chromium\` (or set CHROMIUM_BIN)`);
  mkdirSync(SHOTS, { recursive: true });

  let account;
  let second; // the user's second API account (issue 15, defect 2)
  let partner;
  await step('fixtures through the CLI, server up', async () => {
    account = cli(['account', 'create', '--name', 'Acme Corp']);
    assert.match(account.account_id, /^acct_/);
    second = cli(['account', 'create', '--name', 'Beta Books']);
    const user = cli(['user', 'create', '--email', EMAIL, '--account', account.account_id, '--account', second.account_id,
      '--operator', '--password-stdin'], `${PASSWORD}\n`);
    assert.equal(user.operator, true);
    partner = cli(['app', 'create', '--name', 'Partner App', '--redirect-uri', REDIRECT,
      '--scope', 'books:read account:read', '--approved']);
    assert.match(partner.client_id, /^cl_/);
    assert.ok(partner.client_secret);
    const legacy = cli(['legacy', 'create', '--account', account.account_id, '--email', LEGACY_EMAIL, '--password-stdin'], `${LEGACY_PASSWORD}\n`);
    assert.equal(legacy.state, 'active');
    await startServer();
    // The customer's integration uploads data with Basic, as it always did.
    const r = await fetch(`${base}/v1/books`, {
      method: 'POST',
      headers: { authorization: legacyBasic(LEGACY_EMAIL, LEGACY_PASSWORD), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'uploaded with Basic', documents: [{ file: 'q3.pdf' }] }),
    });
    assert.equal(r.status, 201);
    assert.ok(r.headers.get('deprecation'), 'Basic responses carry Deprecation');
  });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: WIDE, baseURL: base });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    // Nothing may leave the machine: anything but the server and the intercepted
    // partner callback is refused (and noted).
    const stray = [];
    await context.route((url) => !url.href.startsWith(base) && !url.href.startsWith('https://partner.example/'),
      (route) => { stray.push(route.request().url()); return route.abort(); });
    context.on('page', (p) => p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${e.message}`)));
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));

    await step('sign-in page: wrong password is refused, right one signs in', async () => {
      const r = await page.goto('/signin?return_to=/settings/credentials');
      assert.equal(r.status(), 200);
      await capture(page, 'signin');
      await page.getByLabel('Email').fill(EMAIL);
      await page.getByLabel('Password').fill('not the password');
      const bad = await go(page, page.getByRole('button', { name: 'Sign in' }));
      assert.equal(bad.status(), 401);
      assert.equal(await text(page.getByRole('alert')), 'The email or password is wrong.');
      // Defect 9: after a wrong password the cursor is on Password, not Email.
      await page.waitForFunction(() => document.activeElement?.id === 'password', null, { timeout: 5000 });
      await capture(page, 'signin-error');
      await page.getByLabel('Password').fill(PASSWORD);
      const ok = await go(page, page.getByRole('button', { name: 'Sign in' }));
      assert.equal(ok.status(), 200);
      assert.equal(new URL(page.url()).pathname, '/settings/credentials');
      const cookies = await context.cookies(base);
      const session = cookies.find((c) => c.name === 'tessera_session');
      assert.ok(session, 'session cookie set');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Lax');
    });

    let cred; // { id, secret, token }
    await step('API Credentials: create shows the secret once, with copy buttons and the warning', async () => {
      assert.equal(await text(page.locator('h1')), 'API Credentials');
      assert.equal(await page.getByLabel('API account').inputValue(), account.account_id);
      await capture(page, 'credentials-empty');
      await page.locator('#name').fill('browser-test');
      const r = await go(page, page.getByRole('button', { name: 'Create' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(page.locator('h1')), 'OAuth 2.0 credentials created');
      assert.equal(await text(page.locator('p.warning')), 'Copy the client secret now: it will not be shown again.');
      const id = await page.getByLabel('Client ID').inputValue();
      const secret = await page.locator('#client-secret').inputValue();
      assert.match(id, /^cl_/);
      assert.ok(secret.length >= 32, 'a long secret');
      assert.equal(await page.getByLabel('Client secret').inputValue(), secret);
      const copies = page.getByRole('button', { name: 'Copy' });
      assert.equal(await copies.count(), 3, 'id, secret and the token request');
      assert.match(await text(page.locator('pre')), new RegExp(`^curl -s -u "${id}:\\$CLIENT_SECRET"`));
      assert.match(await page.locator('#client-secret').evaluate((el) => getComputedStyle(el).fontFamily), /mono/i);
      await capture(page, 'secret');
      const copySecret = page.locator('button[data-copy="client-secret"]');
      await copySecret.click();
      await poll('the Copy button to say Copied', async () => (await copySecret.innerText()) === 'Copied', 3000);
      const clip = await page.evaluate(() => navigator.clipboard.readText().catch((e) => `unreadable: ${e}`));
      assert.equal(clip, secret, 'the clipboard holds the secret');
      cred = { id, secret };
      await go(page, page.getByRole('link', { name: 'Back' }));
      assert.equal(new URL(page.url()).pathname, '/settings/credentials');
      const row = page.locator('tbody tr', { hasText: id });
      assert.equal(await row.count(), 1);
      assert.equal(await text(row.locator('td').nth(0)), 'browser-test');
      assert.equal(await text(row.locator('td').nth(4)), 'active');
      await capture(page, 'credentials');
    });

    await step('Test: a wrong secret is explained, the right one shows decoded claims', async () => {
      const row = page.locator('tbody tr', { hasText: cred.id });
      await row.getByLabel('Client secret').fill('wrong-secret-wrong-secret');
      let r = await go(page, row.getByRole('button', { name: 'Test' }));
      assert.equal(r.status(), 200);
      assert.match(await text(page.getByRole('alert')), /^The credential did not get a token: .*\(invalid_client\)$/);
      await capture(page, 'claims-failed');
      await go(page, page.getByRole('link', { name: 'Back' }));
      const row2 = page.locator('tbody tr', { hasText: cred.id });
      await row2.getByLabel('Client secret').fill(cred.secret);
      r = await go(page, row2.getByRole('button', { name: 'Test' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(page.locator('h1')), 'Test of browser-test');
      assert.match(await text(page.getByRole('status')), /The credential works/);
      const claims = Object.fromEntries(await page.locator('table.claims tbody tr').evaluateAll((rows) =>
        rows.map((r) => [r.cells[0].innerText.trim(), r.cells[1].innerText.trim()])));
      assert.equal(claims.client_id, cred.id);
      assert.equal(claims.sub, account.account_id);
      assert.equal(claims.iss, base);
      // Times as dates, not Unix seconds.
      assert.match(claims.exp, /^\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2} UTC$/);
      assert.match(claims.iat, /^\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2} UTC$/);
      await capture(page, 'claims');
      await go(page, page.getByRole('link', { name: 'Back' }));
    });

    await step('the new credential works over the API (client_credentials, then GET /v1/books)', async () => {
      const t = await token({ grant_type: 'client_credentials' }, { authorization: basic(cred.id, cred.secret) });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      assert.equal(t.body.token_type, 'Bearer');
      assert.equal(jwtClaims(t.body.access_token).client_id, cred.id);
      cred.token = t.body.access_token;
      assert.equal(await books(cred.token), 200);
    });

    await step('Revoke: confirm page, then status "revoked"; refused over the API within 1 s', async () => {
      const row = page.locator('tbody tr', { hasText: cred.id });
      let r = await go(page, row.getByRole('link', { name: 'Revoke' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(page.locator('h1')), 'Revoke browser-test?');
      await capture(page, 'confirm');
      // Cancel goes back without revoking.
      await go(page, page.getByRole('link', { name: 'Cancel' }));
      assert.equal(await text(page.locator('tbody tr', { hasText: cred.id }).locator('td').nth(4)), 'active');
      await go(page, page.locator('tbody tr', { hasText: cred.id }).getByRole('link', { name: 'Revoke' }));
      r = await go(page, page.getByRole('button', { name: 'Revoke' }));
      assert.equal(r.status(), 200);
      const revokedAt = Date.now();
      assert.equal(await text(page.getByRole('status')), 'Revoked browser-test.');
      const after = page.locator('tbody tr', { hasText: cred.id });
      assert.equal(await text(after.locator('td').nth(4)), 'revoked');
      assert.equal(await after.getByRole('button', { name: 'Test' }).count(), 0, 'no Test on a revoked credential');
      await capture(page, 'credentials-revoked');
      await poll('the old access token to be refused', async () => (await books(cred.token)) === 401, 1000 - (Date.now() - revokedAt), 25);
      const t = await token({ grant_type: 'client_credentials' }, { authorization: basic(cred.id, cred.secret) });
      assert.equal(t.status, 401);
      assert.equal(t.body.error, 'invalid_client');
    });

    await step('Legacy: Migrate shows new credentials once; test them; then Remove Credentials', async () => {
      await page.goto('/settings/credentials');
      const legacyRow = () => page.locator('#legacy-credentials tbody tr', { hasText: LEGACY_EMAIL });
      assert.equal(await text(legacyRow().locator('td').nth(1)), 'active');
      const blocked = legacyRow().getByRole('button', { name: 'Remove Credentials' });
      assert.equal(await blocked.isDisabled(), true, 'Remove is disabled before migration');
      assert.match(await text(legacyRow()), /Migrate first/);
      // Defect 7: Migrate and Remove side by side at one height; the reason readable.
      const migrateBox = await legacyRow().getByRole('button', { name: 'Migrate' }).boundingBox();
      const removeBox = await blocked.boundingBox();
      assert.ok(Math.abs(migrateBox.y - removeBox.y) <= 1 && Math.abs(migrateBox.height - removeBox.height) <= 1,
        `Migrate ${JSON.stringify(migrateBox)} vs Remove ${JSON.stringify(removeBox)}`);
      const reason = await legacyRow().locator('.reason').evaluate((el) => {
        const s = getComputedStyle(el);
        return { size: parseFloat(s.fontSize), color: s.color };
      });
      assert.ok(reason.size >= 15, `reason font ${reason.size}px`);
      assert.equal(reason.color, 'rgb(29, 36, 51)', 'the body text colour, not muted grey');
      await capture(page, 'credentials-legacy');
      let r = await go(page, legacyRow().getByRole('button', { name: 'Migrate' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(page.locator('h1')), `OAuth 2.0 credentials for ${LEGACY_EMAIL}`);
      assert.equal(await text(page.locator('p.warning')), 'Copy the client secret now: it will not be shown again.');
      const id = await page.getByLabel('Client ID').inputValue();
      const secret = await page.locator('#client-secret').inputValue();
      const copySecret = page.locator('button[data-copy="client-secret"]');
      await copySecret.click();
      await poll('the Copy button to say Copied', async () => (await copySecret.innerText()) === 'Copied', 3000);
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'the secret was copied');
      // The next steps: the token request and a Bearer call, the real id, the secret as a variable.
      const steps = page.locator('section.next-steps');
      assert.equal(await text(steps.locator('#snippet-token')),
        `curl -s -u "${id}:$CLIENT_SECRET" -d grant_type=client_credentials ${base}/oauth/token`);
      assert.equal(await text(steps.locator('#snippet-call')), `curl -H "Authorization: Bearer $ACCESS_TOKEN" ${base}/v1/account`);
      assert.ok(!(await text(page.locator('main'))).includes(`${id}:${secret}`), 'the secret only in its own field');
      const copyCall = steps.locator('button[data-copy="snippet-call"]');
      await copyCall.click();
      await poll('the snippet Copy to say Copied', async () => (await copyCall.innerText()) === 'Copied', 3000);
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `curl -H "Authorization: Bearer $ACCESS_TOKEN" ${base}/v1/account`);
      assert.match(await page.locator('#client-id').evaluate((el) => getComputedStyle(el).fontFamily), /mono/i);
      assert.ok(!(await text(page.locator('main'))).match(/tessera [a-z]/), 'no tessera command for customers');
      await capture(page, 'legacy-migrated');
      await go(page, page.getByRole('link', { name: 'Back to API Credentials' }));
      assert.equal(await text(legacyRow().locator('td').nth(1)), 'migrated');
      assert.equal(await legacyRow().getByRole('button', { name: 'Remove Credentials' }).isDisabled(), true,
        'Remove waits until the new credentials obtained a token');
      assert.match(await text(legacyRow()), /Test the new OAuth 2.0 credentials/);
      // Basic keeps working until removal.
      const stillBasic = await fetch(`${base}/v1/books`, { headers: { authorization: legacyBasic(LEGACY_EMAIL, LEGACY_PASSWORD) } });
      assert.equal(stillBasic.status, 200);
      // "Test them by requesting a JWT access key."
      const clientRow = page.locator('tbody tr', { hasText: id });
      await clientRow.getByLabel('Client secret').fill(secret);
      r = await go(page, clientRow.getByRole('button', { name: 'Test' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(page.locator('table.claims tr', { hasText: 'sub' }).locator('td').nth(1)), account.account_id, 'same API account');
      await go(page, page.getByRole('link', { name: 'Back' }));
      // "Tested in the Settings Center" is not "used by an integration".
      assert.match(await text(clientRow.locator('td.usage')), /^Only tested in the Settings Center/);
      await go(page, legacyRow().getByRole('link', { name: 'Remove Credentials' }));
      assert.match(await text(page.locator('h1')), /Remove the legacy credential/);
      // Removing safely: Basic's traffic, and a plain warning while it is in use.
      assert.equal(await text(page.locator('#basic-24h')), '2');
      assert.equal(await text(page.locator('#basic-7d')), '2');
      assert.match(await text(page.locator('#basic-last')), /UTC$/);
      assert.match(await text(page.locator('#basic-in-use')), /^Basic authentication with this credential is still in use: 2 requests in the last 24 hours/);
      assert.match(await text(page.locator('#client-use')), /^Only tested in the Settings Center/);
      await capture(page, 'confirm-remove-legacy');
      // The integration switches: a token from the token endpoint is told apart.
      const switched = await token({ grant_type: 'client_credentials' }, { authorization: basic(id, secret) });
      assert.equal(switched.status, 200);
      await page.reload();
      assert.match(await text(page.locator('#client-use')), /^Used by an integration since/);
      const report = cli(['report', 'legacy']).find((row) => row.email === LEGACY_EMAIL);
      assert.ok(report.client_first_test_at && report.client_first_integration_at, JSON.stringify(report));
      r = await go(page, page.getByRole('button', { name: 'Remove anyway' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(page.getByRole('status')), `Removed the legacy credential ${LEGACY_EMAIL}.`);
      assert.equal(await legacyRow().count(), 0);
      await capture(page, 'credentials-legacy-removed');
      // Over the API: Basic is refused at once; the data is reachable with the new client.
      const removedAt = Date.now();
      await poll('Basic with the removed credential to be refused', async () => {
        const b = await fetch(`${base}/v1/books`, { headers: { authorization: legacyBasic(LEGACY_EMAIL, LEGACY_PASSWORD) } });
        await b.arrayBuffer();
        return b.status === 401;
      }, 1000 - (Date.now() - removedAt), 25);
      const t = await token({ grant_type: 'client_credentials' }, { authorization: basic(id, secret) });
      assert.equal(t.status, 200);
      const list = await fetch(`${base}/v1/books`, { headers: { authorization: `Bearer ${t.body.access_token}` } });
      const body = await list.json();
      assert.ok(body.books.some((b) => b.name === 'uploaded with Basic'), 'data uploaded with Basic, read with Bearer');
    });

    let grant; // { access, refresh }
    await step('authorization code through the real consent page, exchanged from Node', async () => {
      await page.route('https://partner.example/**', (route) => route.fulfill({
        status: 200,
        contentType: 'text/html',
        body: '<!doctype html><html lang="en"><title>Partner App</title><h1>Partner App callback</h1></html>',
      }));
      const q = new URLSearchParams({
        response_type: 'code', client_id: partner.client_id, redirect_uri: REDIRECT, scope: 'books:read', state: 'abc',
      });
      const r = await page.goto(`/oauth/authorize?${q}`);
      assert.equal(r.status(), 200);
      assert.match(await text(page.locator('h1')), /^Partner App wants access$/);
      assert.match(await text(page.locator('main')), new RegExp(`Signed in as ${EMAIL.replace('.', '\\.')}`));
      const boxes = page.locator('fieldset input[type=checkbox]');
      assert.equal(await boxes.count(), 1, 'only the requested scope is offered');
      assert.equal(await boxes.first().isChecked(), true);
      assert.deepEqual(await brokenWords(page), [], 'defect 5: no word broken on the consent page');
      await capture(page, 'consent');
      await page.getByRole('button', { name: 'Authorize' }).click();
      await page.waitForURL((u) => u.href.startsWith(REDIRECT), { timeout: 5000 });
      const back = new URL(page.url());
      assert.equal(back.searchParams.get('state'), 'abc');
      const code = back.searchParams.get('code');
      assert.match(code || '', /^ac_/);
      const t = await token({
        grant_type: 'authorization_code', code, redirect_uri: REDIRECT,
        client_id: partner.client_id, client_secret: partner.client_secret,
      });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      assert.match(t.body.refresh_token || '', /^rt_/);
      assert.equal(t.body.scope, 'books:read');
      grant = { access: t.body.access_token, refresh: t.body.refresh_token };
      assert.equal(await books(grant.access), 200);
    });

    await step('device flow: the verification page takes the code, the consent page approves, the device gets tokens', async () => {
      const device = cli(['app', 'create', '--name', 'Acme CLI', '--public', '--grant', 'device_code',
        '--scope', 'books:read', '--approved']);
      const r = await fetch(`${base}/oauth/device_authorization`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: device.client_id, scope: 'books:read' }),
      });
      assert.equal(r.status, 200);
      const asked = await r.json();
      assert.match(asked.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
      const complete = new URL(asked.verification_uri_complete);
      await page.goto(complete.pathname + complete.search);
      assert.match(await text(page.locator('h1')), /^Connect a device$/);
      assert.equal(await page.locator('#user_code').inputValue(), asked.user_code, 'the link fills the code in');
      await capture(page, 'device-code');
      await go(page, page.getByRole('button', { name: 'Continue' }));
      assert.match(await text(page.locator('h1')), /^Acme CLI wants access$/);
      assert.match(await text(page.locator('main')), new RegExp(`showed you the code ${asked.user_code}`));
      await capture(page, 'device-consent');
      await go(page, page.getByRole('button', { name: 'Authorize' }));
      assert.match(await text(page.locator('h1')), /^Acme CLI is connected$/);
      await capture(page, 'device-done');
      const t = await token({
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: asked.device_code,
        client_id: device.client_id,
      });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      assert.equal(await books(t.body.access_token), 200);
      // Taken back with the CLI, so the Applications steps below start from the partner alone.
      const taken = cli(['user', 'deauthorize', EMAIL, device.client_id]);
      assert.equal(taken.revoked_token_sets, 1);
      assert.equal(cli(['client', 'revoke', device.client_id]).status, 'revoked');
    });

    await step('Applications: the partner is listed under Authorized applications; Revoke access', async () => {
      let r = await page.goto('/settings/applications');
      assert.equal(r.status(), 200);
      const authorized = page.locator('h2:has-text("Authorized applications") + table tbody tr', { hasText: 'Partner App' });
      assert.equal(await authorized.count(), 1);
      assert.equal(await text(authorized.locator('td').nth(1)), 'Acme Corp');
      assert.equal(await text(authorized.locator('td').nth(2)), 'books:read');
      await capture(page, 'applications');
      r = await go(page, authorized.getByRole('link', { name: 'Revoke access' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(page.locator('h1')), 'Revoke access of Partner App to Acme Corp?');
      await capture(page, 'confirm-revoke-access');
      r = await go(page, page.getByRole('button', { name: 'Revoke access' }));
      assert.equal(r.status(), 200);
      const revokedAt = Date.now();
      assert.match(await text(page.getByRole('status')), /^Access revoked; 1 token set stopped working\.$/);
      assert.match(await text(page.locator('main')), /You have not authorized any application\./);
      const t = await token({
        grant_type: 'refresh_token', refresh_token: grant.refresh,
        client_id: partner.client_id, client_secret: partner.client_secret,
      });
      assert.equal(t.status, 400, JSON.stringify(t.body));
      assert.equal(t.body.error, 'invalid_grant');
      await poll('the access token to be refused', async () => (await books(grant.access)) === 401, 1000 - (Date.now() - revokedAt), 25);
    });

    /** Add application for `accountName`: the partner's own scopes only; returns the tokens. */
    async function addPartner(accountName) {
      await page.goto('/settings/applications');
      await page.getByLabel('Application', { exact: true }).selectOption({ label: 'Partner App' });
      let r = await go(page, page.getByRole('button', { name: 'Choose scopes and account' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(page.locator('h1')), 'Add Partner App');
      // Defect 3: only the application's scopes (books:read account:read), read-only pre-checked.
      const boxes = page.locator('fieldset input[type=checkbox]');
      assert.deepEqual((await boxes.evaluateAll((bs) => bs.map((b) => [b.name, b.checked]))).sort(),
        [['scope.account:read', true], ['scope.books:read', true]]);
      assert.equal(await page.locator('input[name="scope.books:write"]').count(), 0, 'no write scope the app cannot use');
      await page.getByLabel('The token set is for the API account').selectOption({ label: accountName });
      if (accountName === 'Acme Corp') await capture(page, 'add-application');
      r = await go(page, page.getByRole('button', { name: 'Generate tokens' }));
      assert.equal(r.status(), 200, `Generate tokens answered ${r.status()}: ${await text(page.locator('main'))}`);
      assert.equal(await text(page.locator('h1')), 'Tokens for Partner App');
      assert.match(await text(page.locator('main')), new RegExp(`For the API account ${accountName}\\.`));
      return { access: await page.locator('#access-token').inputValue(), refresh: await page.locator('#refresh-token').inputValue() };
    }

    let forBeta;
    await step('defect 3: Add application offers the application\'s scopes and names the account; the token works', async () => {
      const { access, refresh } = await addPartner('Acme Corp');
      assert.match(refresh, /^rt_/);
      assert.equal(jwtClaims(access).client_id, partner.client_id);
      assert.equal(await page.getByRole('button', { name: 'Copy' }).count(), 2);
      await capture(page, 'tokens');
      assert.equal(await books(access), 200);
      // The set is the partner's to refresh.
      const t = await token({
        grant_type: 'refresh_token', refresh_token: refresh,
        client_id: partner.client_id, client_secret: partner.client_secret,
      });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      forBeta = await addPartner('Beta Books');
    });

    await step('defect 2: one application for two accounts is two rows; Revoke access revokes only its row', async () => {
      await page.goto('/settings/applications');
      const rows = page.locator('h2:has-text("Authorized applications") + table tbody tr', { hasText: 'Partner App' });
      assert.equal(await rows.count(), 2);
      assert.deepEqual((await rows.locator('td:nth-child(2)').allInnerTexts()).map((s) => s.trim()).sort(), ['Acme Corp', 'Beta Books']);
      await capture(page, 'applications-two-accounts');
      await go(page, rows.filter({ hasText: 'Beta Books' }).getByRole('link', { name: 'Revoke access' }));
      assert.equal(await text(page.locator('h1')), 'Revoke access of Partner App to Beta Books?');
      await go(page, page.getByRole('button', { name: 'Revoke access' }));
      assert.equal(await text(page.getByRole('status')), 'Access revoked; 1 token set stopped working.');
      assert.equal(await rows.count(), 1);
      assert.equal(await text(rows.locator('td').nth(1)), 'Acme Corp', "the other account's row stays");
      const dead = await token({
        grant_type: 'refresh_token', refresh_token: forBeta.refresh,
        client_id: partner.client_id, client_secret: partner.client_secret,
      });
      assert.equal(dead.status, 400, 'Beta Books\' token set is revoked');
    });

    await operatorConsoleSteps({ page, step, go, capture, text, cli, tmp, base, partner, account, redirect: REDIRECT });

    await step('error pages: unknown credential, bad authorization request', async () => {
      let r = await page.goto('/settings/credentials/revoke?client_id=cl_doesnotexist');
      assert.equal(r.status(), 404);
      assert.equal(await text(page.locator('h1')), 'Not found');
      await capture(page, 'error-not-found');
      // Defect 6: an error page leads back.
      await go(page, page.getByRole('link', { name: 'Back to the Settings Center' }));
      assert.equal(new URL(page.url()).pathname, '/settings/credentials');
      r = await page.goto('/settings/applications/deauthorize?client_id=cl_doesnotexist');
      assert.equal(r.status(), 404);
      r = await page.goto(`/oauth/authorize?response_type=code&client_id=cl_doesnotexist&redirect_uri=${encodeURIComponent(REDIRECT)}`);
      assert.ok(r.status() >= 400 && r.status() < 500, `status ${r.status()}`);
      assert.ok((await page.getByRole('alert').count()) === 1);
      await capture(page, 'error-authorize');
    });

    await step('CSRF: a post without the csrf field is refused with 403', async () => {
      const form = { account: account.account_id, name: 'no-csrf' };
      let r = await page.request.post('/settings/credentials/create', { form, maxRedirects: 0 });
      assert.equal(r.status(), 403);
      assert.match(await r.text(), /This form has expired/);
      r = await page.request.post('/settings/credentials/create', { form: { ...form, csrf: 'x'.repeat(43) }, maxRedirects: 0 });
      assert.equal(r.status(), 403, 'a wrong token is refused too');
      // The pre-session cookie is no token: the token is an HMAC of the session.
      const pre = (await context.cookies(base)).find((c) => c.name === 'tessera_csrf');
      assert.ok(pre, 'pre-session cookie present');
      assert.equal(pre.httpOnly, true);
      assert.equal(pre.sameSite, 'Strict');
      r = await page.request.post('/settings/credentials/create', { form: { ...form, csrf: pre.value }, maxRedirects: 0 });
      assert.equal(r.status(), 403, "the cookie's value is refused");
      // The same request with the page's token goes through: the refusal was the token's.
      await page.goto('/settings/credentials');
      const csrf = await page.locator('input[name="csrf"]').first().inputValue();
      r = await page.request.post('/settings/credentials/create', { form: { ...form, name: 'with-csrf', csrf }, maxRedirects: 0 });
      assert.equal(r.status(), 200);
      assert.match(await r.text(), /OAuth 2.0 credentials created/);
    });

    await step('CSRF: a stale second tab gets "This form has expired" after signing in again', async () => {
      const tab2 = await context.newPage();
      await tab2.goto('/settings/credentials');
      await page.goto('/settings/credentials');
      let r = await go(page, page.getByRole('button', { name: 'Sign out' }));
      assert.equal(new URL(page.url()).pathname, '/signin');
      r = await page.goto('/settings/credentials');
      assert.equal(new URL(page.url()).pathname, '/signin', 'signed out: the dashboard asks to sign in');
      // By keyboard this time: the email field has focus, Tab to the password, Enter submits.
      // `autofocus` applies once the page has settled; wait for it rather than race it.
      await page.waitForFunction(() => document.activeElement?.id === 'email', null, { timeout: 5000 });
      await page.keyboard.type(EMAIL);
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
      await page.keyboard.type(PASSWORD);
      const signedIn = page.waitForNavigation({ waitUntil: 'load' });
      await page.keyboard.press('Enter');
      await signedIn;
      assert.equal(new URL(page.url()).pathname, '/settings/credentials');
      await tab2.locator('#name').fill('stale-tab');
      r = await go(tab2, tab2.getByRole('button', { name: 'Create' }));
      assert.equal(r.status(), 403);
      assert.equal(await text(tab2.locator('h1')), 'This form has expired');
      assert.match(await text(tab2.getByRole('alert')), /Reload the page and try again/);
      await capture(tab2, 'error-form-expired');
      // Defect 6: the stale form's page offers a fresh form (a GET), not a re-post.
      await go(tab2, tab2.getByRole('link', { name: 'Open a fresh form' }));
      assert.equal(new URL(tab2.url()).pathname, '/settings/credentials');
      await tab2.locator('#name').fill('after-reload');
      r = await go(tab2, tab2.getByRole('button', { name: 'Create' }));
      assert.equal(r.status(), 200);
      assert.equal(await text(tab2.locator('h1')), 'OAuth 2.0 credentials created');
      await tab2.close();
      await page.goto('/settings/credentials');
      assert.equal(await page.locator('tbody tr', { hasText: 'stale-tab' }).count(), 0, 'the stale form created nothing');
    });

    await step('defect 1: signing in again after signing out, and visiting /, land on /settings', async () => {
      await page.goto('/settings/credentials');
      await go(page, page.getByRole('button', { name: 'Sign out' }));
      assert.equal(new URL(page.url()).pathname, '/signin');
      await page.getByLabel('Email').fill(EMAIL);
      await page.getByLabel('Password').fill(PASSWORD);
      const r = await go(page, page.getByRole('button', { name: 'Sign in' }));
      assert.equal(r.status(), 200);
      assert.equal(new URL(page.url()).pathname, '/settings/credentials');
      await page.goto('/');
      assert.equal(new URL(page.url()).pathname, '/settings/credentials');
    });

    await step('defect 4: ?notice= shows nothing; notices are the server\'s', async () => {
      const r = await page.goto('/settings/credentials?notice=' + encodeURIComponent('Your account is suspended. Call +1 555 0100.'));
      assert.equal(r.status(), 200);
      assert.equal(await page.getByRole('status').count(), 0);
      assert.ok(!(await text(page.locator('main'))).includes('suspended'));
    });

    await step('defect 8: a name of only spaces is called blank', async () => {
      await page.goto('/settings/credentials');
      await page.locator('#name').fill('     ');
      const r = await go(page, page.getByRole('button', { name: 'Create' }));
      assert.equal(r.status(), 400);
      assert.equal(await text(page.getByRole('alert')), 'a client name cannot be blank: type a name');
      await capture(page, 'error-blank-name');
      await go(page, page.getByRole('link', { name: 'Back to the Settings Center' }));
    });

    await step('defect 5: at 1440 px no word breaks, and a 200-character name squeezes no header', async () => {
      await page.setViewportSize(WIDE);
      await page.goto('/settings/credentials');
      await page.locator('#name').fill('n'.repeat(200));
      await go(page, page.getByRole('button', { name: 'Create' }));
      await page.goto('/settings/credentials');
      for (const path of ['/settings/credentials', '/settings/applications']) {
        await page.goto(path);
        assert.deepEqual(await brokenWords(page), [], `${path}: words broken`);
        const headers = await page.locator('th').evaluateAll((ths) => ths.map((th) => th.getBoundingClientRect().width));
        assert.ok(headers.every((w) => w >= 40), `${path}: a header squeezed to ${Math.min(...headers)} px`);
        const overflow = await page.evaluate(() => {
          const main = document.querySelector('main').getBoundingClientRect();
          return [...document.querySelectorAll('main table')].some((t) => t.getBoundingClientRect().right > main.right + 1);
        });
        assert.equal(overflow, false, `${path}: a table wider than the page`);
      }
      await capture(page, 'credentials-long-name');
    });

    await step('no script errors, no request left the machine', async () => {
      assert.deepEqual(pageErrors, []);
      assert.deepEqual(stray, []);
    });
    await context.close();
  } finally {
    await browser.close();
  }
}

let code = 0;
try {
  await main();
} catch (err) {
  code = 1;
  if (!(err instanceof StepFailed)) console.log(`FAIL setup\n${indent(err && err.stack ? err.stack : String(err))}`);
  if (existsSync(serverLog)) {
    const log = readFileSync(serverLog, 'utf8').split('\n').slice(-30).join('\n');
    console.log(`--- last lines of the server log\n${log}`);
  }
} finally {
  await stopServer();
  rmSync(tmp, { recursive: true, force: true });
}

if (code === 0) {
  // A green run's set is the whole set: drop screenshots of pages no longer visited.
  for (const f of readdirSync(SHOTS)) {
    if (f.endsWith('.png') && !screenshots.includes(f)) rmSync(join(SHOTS, f));
  }
}
console.log(`\nscreenshots (${screenshots.length}) in docs/screenshots/: ${screenshots.filter((s) => s.endsWith('-1440.png')).map((s) => s.replace('-1440.png', '')).join(', ')}`);
if (layoutProblems.length) {
  console.log('pages that scroll sideways at 375 px (reported, not failed):');
  for (const p of layoutProblems) console.log(`  ${p.page}: scrollWidth ${p.scrollWidth} (wider: ${p.offenders.join(', ')})`);
} else {
  console.log('no page scrolls sideways at 375 px');
}
if (knownBugs.length) {
  console.log('known dashboard bugs (worked around; TESSERA_BROWSER_STRICT=1 fails on them):');
  for (const b of knownBugs) console.log(`  ${b}`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed + (code && results.every((r) => r.ok) ? 1 : 0);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(code);
