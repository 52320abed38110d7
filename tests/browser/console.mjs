// Browser steps of the operator's pages (issue 15): the migration console's tabs, totals
// and chart, its list (search, filters, sort, pages of 50, CSV export), the
// confirmations before approving a partner application or rotating the signing key, and
// the users tab.
// run.mjs calls `operatorConsoleSteps` with its harness once the operator is signed in.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A PHC string that parses; nobody signs in with these imported credentials. */
const HASH = '$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';
const BULK = 60;

/**
 * @param {object} h  run.mjs's harness: page, step, go, capture, text, cli, tmp, base,
 *                    partner ({ client_id }), account (the signed-in operator's API
 *                    account, { account_id }), redirect (the partner's redirect URI)
 */
export async function operatorConsoleSteps(h) {
  const { page, step, go, capture, text, cli, tmp, base, partner, account, redirect } = h;
  const emailsListed = async () =>
    (await page.locator('table.op-list tbody td[data-label="Email"]').allInnerTexts()).map((s) => s.trim());

  await step('Operator console: customers imported, tabs, totals and the 30-day chart', async () => {
    const initech = cli(['account', 'create', '--name', 'Initech Holdings', '--external-id', 'crm-9001']);
    const recent = new Date(Date.now() - 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    const lines = [];
    for (let i = 0; i < BULK; i++) {
      const n = String(i).padStart(2, '0');
      lines.push(JSON.stringify({
        email: `ops-${n}@initech.example`,
        account: initech.account_id,
        password_hash: HASH,
        // Every tenth one still calls with Basic.
        ...(i % 10 === 3 ? { last_used_at: recent } : {}),
      }));
    }
    const file = join(tmp, 'console-import.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const imported = cli(['legacy', 'import', file]);
    assert.ok(JSON.stringify(imported).includes(String(BULK)), JSON.stringify(imported));

    const r = await page.goto('/settings/operator');
    assert.equal(r.status(), 200);
    const tabs = page.getByRole('navigation', { name: 'Operator sections' });
    assert.deepEqual((await tabs.getByRole('link').allInnerTexts()).map((s) => s.trim()),
      ['Migration', 'Partner applications', 'Users', 'Signing keys', 'Audit log']);
    assert.equal(await text(tabs.locator('[aria-current="page"]')), 'Migration');
    assert.match(await text(page.locator('#glance-active')), new RegExp(`^${BULK} active \\d+%$`));
    assert.match(await text(page.locator('#glance-basic-week')), /^6 sent Basic in the last 7 days \d+%$/);
    assert.match(await text(page.locator('#glance-sunset')), /Sunset:/);
    const chart = page.getByRole('img', { name: 'Requests per day over the last 30 days' });
    assert.equal(await chart.count(), 1, 'the chart is an image with a name');
    assert.equal(await page.locator('svg polyline').count(), 2, 'Basic and Bearer lines');
    // Server-rendered: the chart is in the HTML itself, no script draws it.
    const html = await (await page.request.get('/settings/operator')).text();
    assert.match(html, /<polyline points="(\d+,\d+ ){29}\d+,\d+"/);
    const box = await chart.boundingBox();
    await capture(page, 'operator-console');
    assert.ok(box.width > 300, `chart ${box.width} px wide`);
    await page.setViewportSize({ width: 375, height: 812 });
    const narrow = await page.getByRole('img', { name: 'Requests per day over the last 30 days' }).boundingBox();
    assert.ok(narrow.width <= 375 && narrow.width > 280, `chart fits a phone: ${narrow.width} px`);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('Operator console: search, filters, sort, pages of 50, CSV of the filtered list', async () => {
    await page.goto('/settings/operator');
    // Search by account name, any case; by external id; by part of an email.
    await page.getByLabel('Search').fill('INITECH hold');
    await page.getByLabel('Sort by').selectOption('email');
    await go(page, page.getByRole('button', { name: 'Show' }));
    assert.equal(new URL(page.url()).searchParams.get('q'), 'INITECH hold');
    assert.match(await text(page.locator('#list-summary')), new RegExp(`^Showing 1–50 of ${BULK}\\.`));
    let rows = await emailsListed();
    assert.equal(rows.length, 50);
    assert.equal(rows[0], 'ops-00@initech.example');
    assert.match(await text(page.locator('table.op-list tbody tr').first().locator('td[data-label="API account"]')),
      /^Initech Holdings acct_\S+ external id crm-9001$/);
    await capture(page, 'operator-console-search');
    // Pages are links: no script needed.
    const pager = page.getByRole('navigation', { name: 'Pages' });
    await go(page, pager.getByRole('link', { name: 'Next' }));
    assert.equal(new URL(page.url()).searchParams.get('page'), '2');
    rows = await emailsListed();
    assert.deepEqual(rows, Array.from({ length: BULK - 50 }, (_, i) => `ops-${50 + i}@initech.example`));
    assert.equal(await text(pager.locator('[aria-current="page"]')), '2');
    await go(page, pager.getByRole('link', { name: 'Previous' }));
    assert.equal((await emailsListed())[0], 'ops-00@initech.example');

    await page.getByLabel('Search').fill('crm-900');
    await page.getByLabel('Still on Basic').check();
    await go(page, page.getByRole('button', { name: 'Show' }));
    rows = await emailsListed();
    assert.deepEqual(rows, ['ops-03', 'ops-13', 'ops-23', 'ops-33', 'ops-43', 'ops-53'].map((e) => `${e}@initech.example`));
    assert.equal(await page.getByLabel('Still on Basic').isChecked(), true, 'the form keeps its state');

    await page.getByLabel('Search').fill('ops-1');
    await page.getByLabel('Still on Basic').uncheck();
    await page.getByLabel('State').selectOption('active');
    await page.getByLabel('Sort by').selectOption('last-use');
    await go(page, page.getByRole('button', { name: 'Show' }));
    rows = await emailsListed();
    assert.equal(rows.length, 10);
    assert.equal(rows[0], 'ops-13@initech.example', 'the one still on Basic first');
    await page.getByLabel('State').selectOption('removed');
    await go(page, page.getByRole('button', { name: 'Show' }));
    assert.match(await text(page.locator('#list-summary')), /^No legacy credentials match\./);

    // Export: the CSV of the filtered list, with the CLI's columns.
    await page.getByLabel('Search').fill('crm-900');
    await page.getByLabel('State').selectOption('all');
    await page.getByLabel('Still on Basic').check();
    await go(page, page.getByRole('button', { name: 'Show' }));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download CSV' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'tessera-legacy-report.csv');
    const saved = join(tmp, 'console-export.csv');
    await download.saveAs(saved);
    const csv = readFileSync(saved, 'utf8').trim().split('\n');
    assert.equal(csv[0], 'email,state,account_id,account_name,external_id,created_at,last_used_at,' +
      'basic_requests_24h,basic_requests_7d,client_id,client_used,client_first_token_at,credential_id,' +
      'client_first_test_at,client_first_integration_at');
    assert.equal(csv.length, 1 + 6, 'only the filtered rows');
    assert.ok(csv.slice(1).every((l) => /^ops-\d3@initech\.example,active,acct_\S+,Initech Holdings,crm-9001,/.test(l)), csv.join('\n'));
    // Clear returns to everything.
    await go(page, page.getByRole('link', { name: 'Clear' }));
    assert.equal(await page.getByLabel('Search').inputValue(), '');
  });

  await step('Operator: approval shows the application and asks; the consent page warns while unapproved; key rotation asks', async () => {
    let r = await page.goto('/settings/operator/apps');
    assert.equal(r.status(), 200);
    assert.equal(await text(page.getByRole('navigation', { name: 'Operator sections' }).locator('[aria-current="page"]')),
      'Partner applications');
    const row = () => page.locator('tbody tr', { hasText: partner.client_id });
    assert.equal(await text(row().locator('td').nth(3)), 'yes');
    await capture(page, 'operator-apps');
    r = await go(page, row().getByRole('link', { name: 'Unapprove' }));
    assert.equal(r.status(), 200);
    assert.equal(await text(page.locator('h1')), 'Withdraw approval of Partner App?');
    assert.equal(await row().count(), 0, 'a page of its own, not a one-click change');
    await go(page, page.getByRole('button', { name: 'Unapprove Partner App' }));
    assert.equal(await text(page.getByRole('status')), 'Partner App is no longer approved.');
    assert.equal(await text(row().locator('td').nth(3)), 'no');
    // Not offered to customers, and its consent page says the provider has not approved it.
    await page.goto('/settings/applications');
    assert.match(await text(page.locator('main')), /No approved partner applications yet\./);
    // An application the operator has not approved, registered by the user's own account
    // (only its users may authorize it), is marked so on the consent page.
    const unreviewed = cli(['app', 'create', '--name', 'Unreviewed App', '--redirect-uri', redirect,
      '--scope', 'books:read', '--account', account.account_id]);
    const q = new URLSearchParams({ response_type: 'code', client_id: unreviewed.client_id, redirect_uri: redirect, scope: 'books:read', state: 'x' });
    r = await page.goto(`/oauth/authorize?${q}`);
    assert.equal(r.status(), 200);
    assert.match(await text(page.getByRole('alert')), /has not approved this application/);
    await capture(page, 'consent-unapproved');

    await page.goto('/settings/operator/apps');
    await go(page, row().getByRole('link', { name: 'Approve' }));
    assert.equal(await text(page.locator('h1')), 'Approve Partner App?');
    const main = await text(page.locator('main'));
    assert.ok(main.includes(redirect), 'the redirect URI');
    assert.match(main, /Scopes\s*.*books:read/);
    assert.match(main, /Owner registered by an operator/);
    await capture(page, 'operator-approve-confirm');
    // Cancel changes nothing.
    await go(page, page.getByRole('link', { name: 'Cancel' }));
    assert.equal(await text(row().locator('td').nth(3)), 'no');
    await go(page, row().getByRole('link', { name: 'Approve' }));
    await go(page, page.getByRole('button', { name: 'Approve Partner App' }));
    assert.equal(await text(page.getByRole('status')), 'Partner App is approved.');
    assert.equal(await text(row().locator('td').nth(3)), 'yes');

    await go(page, page.getByRole('navigation', { name: 'Operator sections' }).getByRole('link', { name: 'Signing keys' }));
    assert.equal(await page.locator('tbody tr').count(), 1);
    await capture(page, 'operator-keys');
    await go(page, page.getByRole('link', { name: 'Rotate signing key…' }));
    assert.equal(await text(page.locator('h1')), 'Rotate the signing key?');
    await capture(page, 'operator-rotate-confirm');
    r = await go(page, page.getByRole('button', { name: 'Rotate signing key' }));
    assert.equal(r.status(), 200);
    assert.match(await text(page.getByRole('status')), /^New key \S+ is published; it signs from .+\.$/);
    assert.equal(await page.locator('tbody tr').count(), 2);
    const jwks = await (await fetch(`${base}/.well-known/jwks.json`)).json();
    assert.equal(jwks.keys.length, 2, 'both keys are published');

    // The audit log tab: the approval and the rotation, by this operator, newest first.
    await go(page, page.getByRole('navigation', { name: 'Operator sections' }).getByRole('link', { name: 'Audit log' }));
    assert.equal(await text(page.getByRole('navigation', { name: 'Operator sections' }).locator('[aria-current="page"]')), 'Audit log');
    const actions = (await page.locator('td[data-label="Action"]').allInnerTexts()).map((s) => s.trim());
    assert.equal(actions[0], 'key.rotated', actions.join(', '));
    assert.ok(actions.includes('app.approved'), actions.join(', '));
    assert.match(await text(page.locator('td[data-label="Actor"]').first()), /^user:usr_/);
    await capture(page, 'operator-audit');

    // The users tab: this operator is marked, and offered no way to disable themselves.
    await go(page, page.getByRole('navigation', { name: 'Operator sections' }).getByRole('link', { name: 'Users' }));
    const me = page.locator('tbody tr', { hasText: '(you)' });
    assert.equal(await me.count(), 1);
    assert.equal(await text(me.locator('td[data-label="Role"]')), 'operator');
    assert.equal(await text(me.locator('td[data-label="State"]')), 'active');
    assert.equal(await me.getByRole('link', { name: 'Disable…' }).count(), 0);
    await capture(page, 'operator-users');
  });
}
