// The People page in a real browser against a real server, on real face
// photos (LFW, from the shared data: 250x250 head-and-shoulders shots, one
// face each): three people with four photos each appear as three cards;
// one is named inline and then found by that name from the search box, its
// chip a person chip that toggles the person filter; a person dragged onto
// another is merged into it after a confirmation; a wrong face is taken out
// on the person's page; a selection of two is merged into the named one;
// the detail view links a face to its person.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, launch, shot, startServer } from './lib.mjs';

const SHARED = process.env.SCRY_SHARED || path.join(REPO, '..', 'shared');
const LFW = path.join(SHARED, 'data', 'lfw', 'images');
const PEOPLE = { peirsol: ['Aaron_Peirsol', [1, 2, 3, 4]], brody: ['Adrien_Brody', [1, 2, 4, 5]], sugiyama: ['Ai_Sugiyama', [1, 2, 3, 4]] };
const fileOf = (who, n) => `${who}_${String(n).padStart(4, '0')}.jpg`;
const filesOf = (key) => PEOPLE[key][1].map((n) => fileOf(PEOPLE[key][0], n)).sort();
const have = fs.existsSync(LFW);

let server, browser, page;

async function api(method, p, body) {
  const r = await fetch(server.base + p, { method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) assert.fail(`${method} ${p}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}
async function personFiles(id) {
  return (await api('GET', `/v1/people/${id}/images?limit=100`)).images.map((i) => i.filename).sort();
}
// person id by the photos it holds
async function peopleByFiles() {
  const out = new Map();
  for (const p of (await api('GET', '/v1/people')).people) out.set((await personFiles(p.id)).join(','), p);
  return out;
}
const until = async (fn, what, ms = 15000) => {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('the People page', { concurrency: false, skip: have ? false : `no LFW photos under ${SHARED}` }, () => {
  let ids;
  before(async () => {
    server = await startServer(['--ocr', '0']);
    browser = await launch();
    page = browser.page;
    const form = new FormData();
    for (const [who, ns] of Object.values(PEOPLE)) {
      for (const n of ns) form.append('file', new Blob([fs.readFileSync(path.join(LFW, who, fileOf(who, n)))]), fileOf(who, n));
    }
    const r = await fetch(server.base + '/v1/images', { method: 'POST', body: form });
    assert.equal(r.status, 202);
    const doc = await r.json();
    await until(async () => ['completed', 'failed'].includes((await api('GET', `/v1/jobs/${doc.job_id}`)).status), 'the job', 120000);
    const by = await peopleByFiles();
    ids = Object.fromEntries(Object.keys(PEOPLE).map((k) => [k, by.get(filesOf(k).join(','))?.id]));
    assert.ok(ids.peirsol && ids.brody && ids.sugiyama, `three people, one per photographed person: ${[...by.keys()]}`);
  });
  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('lists three people; a name typed under a face names the person, and search finds it', async () => {
    await page.goto(server.base + '/');
    await page.getByRole('link', { name: 'People' }).click();
    await page.waitForURL(/\/people$/);
    await page.locator('.card.person').nth(2).waitFor();
    assert.equal(await page.locator('.card.person').count(), 3);
    const card = page.locator(`.card.person[data-person="${ids.brody}"]`);
    assert.match(await card.textContent(), /4 photos/);
    assert.equal(await card.locator('.face-thumb img').evaluate((im) => im.complete && im.naturalWidth > 0), true);
    const name = card.getByRole('textbox');
    await name.fill('Rose');
    await name.press('Enter');
    await until(async () => (await api('GET', `/v1/people/${ids.brody}`)).name === 'Rose', 'the name saved');
    await shot(page, 'people');

    // The name is understood in the search box, whatever its case.
    const box = page.getByRole('searchbox', { name: 'Search images' });
    await box.fill('rose');
    await box.press('Enter');
    await page.waitForURL(/[?&]q=rose/);
    await page.waitForFunction(() => !document.querySelector('.grid.stale') && document.querySelectorAll('.grid .card').length > 0);
    const shown = (await page.locator('.grid .card').evaluateAll((els) => els.map((e) => e.dataset.filename))).sort();
    assert.deepEqual(shown, filesOf('brody'));
    await page.locator('.understood .chip-u-person', { hasText: 'Rose' }).waitFor();
    // Its chip is a person chip; it toggles the person filter.
    const chip = page.locator('.grid .card button.chip-person').first();
    assert.match(await chip.textContent(), /^Rose \(face [01]\.\d\d\)$/);
    await chip.click();
    await page.waitForURL(new RegExp(`[?&]person=${ids.brody}`));
    assert.equal(await page.locator('select[name=person]').inputValue(), String(ids.brody));
  });

  it('dragging a person onto another merges them after a confirmation', async () => {
    await page.goto(server.base + '/people');
    await page.locator('.card.person').nth(2).waitFor();
    await page.locator(`.card.person[data-person="${ids.sugiyama}"]`).dragTo(page.locator(`.card.person[data-person="${ids.peirsol}"]`));
    const dialog = page.getByRole('dialog', { name: 'Merge people?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Merge' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.card.person').length === 2);
    // Into the one it was dropped on
    const left = (await api('GET', '/v1/people')).people.map((p) => p.id).sort();
    assert.deepEqual(left, [ids.peirsol, ids.brody].sort());
    assert.deepEqual(await personFiles(ids.peirsol), [...filesOf('peirsol'), ...filesOf('sugiyama')].sort());
    ids.merged = ids.peirsol;
  });

  it("a person's page takes a wrong face out, and the person's photos follow", async () => {
    await page.locator(`.card.person[data-person="${ids.merged}"] .card-link`).click();
    await page.waitForURL(new RegExp(`/people\\?person=${ids.merged}`));
    await page.locator('.card.face').nth(7).waitFor();
    assert.equal(await page.locator('.card.face').count(), 8);
    const notHim = page.locator('.card.face').first().getByRole('button', { name: /^Not / });
    await notHim.click();
    await page.waitForFunction(() => document.querySelectorAll('.card.face').length === 7);
    assert.equal((await personFiles(ids.merged)).length, 7);
    // The face's image, from the person's page: its face links back here
    await page.locator('.card.face .card-link').first().click();
    const link = page.getByRole('dialog').locator('a.person-link');
    await link.waitFor();
    await link.click();
    await page.waitForURL(new RegExp(`/people\\?person=${ids.merged}$`));
  });

  it('a selection of two is merged into the named one', async () => {
    await page.goto(server.base + '/people');
    await page.locator('.card.person').nth(1).waitFor();
    for (const id of [ids.merged, ids.brody]) await page.locator(`.card.person[data-person="${id}"] input[type=checkbox]`).check();
    await page.getByRole('button', { name: 'Merge 2' }).click();
    const dialog = page.getByRole('dialog', { name: 'Merge people?' });
    assert.match(await dialog.textContent(), /become\s+Rose's/);
    await dialog.getByRole('button', { name: 'Merge' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.card.person').length === 1);
    const [only] = (await api('GET', '/v1/people')).people;
    assert.equal(only.id, ids.brody);
    assert.equal(only.name, 'Rose');
    assert.equal(only.images, 11);
    assert.deepEqual(browser.errors, []);
  });
});
