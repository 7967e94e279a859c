// The editor's journey of issue 11, in a real browser (Debian's chromium,
// headless, through playwright-core) against a real `scry serve`:
// open the page; upload dog.jpg, horses.jpg and kite.jpg from darknet by the
// file input, with a text file that is refused; wait for the job to
// complete; drop person.jpg on the page; type "horses" and see horses.jpg
// first with a chip naming the horses; open it, one labelled box per horse,
// → shows the next result; delete dog.jpg and see it gone after a reload; a
// bad query shows an error and nothing breaks. Screenshots of each view go
// to build/screenshots/ (SCRY_SCREENSHOTS). The page's own timings are
// printed as "# figure" lines.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DARKNET, figure, launch, shot, startServer, tempFile } from './lib.mjs';

let server, browser, page;
const ids = {};

describe('the journey', { concurrency: false }, () => {
  before(async () => {
    server = await startServer();
    browser = await launch();
    page = browser.page;
  });
  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('opens the page: search first, painted fast', async () => {
    const t0 = Date.now();
    await page.goto(server.base + '/');
    const box = page.getByRole('searchbox', { name: 'Search images' });
    await box.waitFor();
    // The header renders its search box disabled until the server has said
    // whether a key is needed: wait for that, it is what "ready" means.
    await page.waitForFunction(() => {
      const e = document.querySelector('input[type=search]');
      return e && !e.disabled;
    }, null, { timeout: 15000 });
    assert.equal(await box.isEnabled(), true);
    const ready = Date.now() - t0;
    const fcp = await page.evaluate(() => {
      const e = performance.getEntriesByName('first-contentful-paint')[0];
      return e ? e.startTime : -1;
    });
    assert.ok(fcp > 0, 'no first contentful paint');
    figure('first_contentful_paint_ms', fcp, 'ms (empty collection, cold cache)');
    figure('search_box_ready_ms', ready, 'ms (goto to enabled search box)');
    await page.getByText('No images yet').waitFor();
    assert.equal(await box.evaluate((el) => document.activeElement === el), true, 'the search box has the focus');
  });

  it('uploads three photos and a text file by the file input; the text file is refused', async () => {
    const txt = tempFile('notes.txt', 'these are words, not an image\n');
    await page.locator('[data-testid=upload-input]').setInputFiles(
      ['dog.jpg', 'horses.jpg', 'kite.jpg'].map((n) => path.join(DARKNET, n)).concat([txt]));
    const refused = page.locator('.uploads li[data-name="notes.txt"]');
    await refused.locator('.up-state', { hasText: 'refused' }).waitFor();
    assert.match(await refused.textContent(), /not an image/);
    assert.match(await refused.textContent(), /notes\.txt/);
    await shot(page, 'upload');
    // each photo goes to indexed: the job completed
    for (const n of ['dog.jpg', 'horses.jpg', 'kite.jpg']) {
      await page.locator(`.uploads li[data-name="${n}"][data-state="done"]`).waitFor({ timeout: 180000 });
    }
    assert.match(await page.locator('.uploads-summary').textContent(), /3 of 4 indexed · 1 refused/);
  });

  it('shows the job completed on the Jobs page', async () => {
    await page.getByRole('link', { name: 'Jobs' }).click();
    const row = page.locator('tr.job').first();
    await row.locator('.badge', { hasText: 'completed' }).waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.deepEqual(cells.slice(2, 5), ['3', '3', '0']);
    await shot(page, 'jobs');
  });

  it('takes a photo dropped anywhere on the page', async () => {
    const bytes = [...fs.readFileSync(path.join(DARKNET, 'person.jpg'))];
    const drop = await page.evaluateHandle((data) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(data)], 'person.jpg', { type: 'image/jpeg' }));
      return dt;
    }, bytes);
    await page.dispatchEvent('body', 'dragenter', { dataTransfer: drop });
    await page.locator('.dropzone').waitFor();
    await page.dispatchEvent('body', 'drop', { dataTransfer: drop });
    await page.locator('.uploads li[data-name="person.jpg"][data-state="done"]').waitFor({ timeout: 180000 });
    assert.equal(await page.locator('.dropzone').count(), 0);
  });

  it('finds horses.jpg first for "horses", with a chip naming the horses', async () => {
    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByRole('searchbox', { name: 'Search images' }).pressSequentially('horses', { delay: 40 });
    await page.waitForURL(/\?q=horses$/);
    const first = page.locator('.grid .card').first();
    await first.waitFor();
    await page.waitForFunction(() => document.querySelector('.grid .card') && !document.querySelector('.grid.stale'));
    assert.equal(await first.getAttribute('data-filename'), 'horses.jpg');
    const chip = first.locator('.chip-label');
    assert.match(await chip.first().textContent(), /^horse ×[2-9]$/);
    assert.ok((await page.locator('.grid .card').count()) >= 2, 'person.jpg has a horse too');
    assert.match(await page.locator('.understood').textContent(), /horse/);
    // perf.js notes the render a frame after the results are in the DOM
    await page.waitForFunction(() => window.__scry && window.__scry.renders.some((r) => r.kind === 'search'));
    const renders = await page.evaluate(() => window.__scry.renders.filter((r) => r.kind === 'search'));
    const last = renders[renders.length - 1];
    figure('search_render_ms', last.render_ms, `ms after the API answered (${last.n} results, API ${last.api_ms.toFixed(1)} ms)`);
    await shot(page, 'search');
    ids.horses = await first.getAttribute('data-id');
  });

  it('opens horses.jpg with one labelled box per horse; → shows the next result', async () => {
    const img = await (await fetch(`${server.base}/v1/images/${ids.horses}`)).json();
    const horses = img.tags.filter((t) => t.label === 'horse' && t.box).length;
    assert.ok(horses >= 3, `the detector found ${horses} horses`);
    await page.locator('.grid .card').first().locator('.card-link').click();
    const dialog = page.getByRole('dialog', { name: 'horses.jpg' });
    await dialog.waitFor();
    await page.waitForURL(new RegExp(`open=${ids.horses}`));
    const boxes = dialog.locator('.box-object[data-label="horse"]');
    await boxes.first().waitFor();
    assert.equal(await boxes.count(), horses);
    for (let i = 0; i < horses; i++) assert.match(await boxes.nth(i).locator('.box-label').textContent(), /^horse \d+%$/);
    // hovering a box lights its fact in the list
    await boxes.first().hover();
    const fact = await boxes.first().getAttribute('data-fact');
    assert.match(await dialog.locator(`li[data-fact="${fact}"]`).getAttribute('class'), /hot/);
    assert.match(await dialog.locator('.caption').textContent(), /horses/i);
    await shot(page, 'detail');
    const second = await page.locator('.grid .card').nth(1).getAttribute('data-filename');
    await page.keyboard.press('ArrowRight');
    await page.getByRole('dialog', { name: second }).waitFor();
    await page.keyboard.press('ArrowLeft');
    await page.getByRole('dialog', { name: 'horses.jpg' }).waitFor();
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('dialog.detail'));
    assert.doesNotMatch(page.url(), /open=/);
  });

  it('deletes dog.jpg; after a reload it is gone from the results', async () => {
    const box = page.getByRole('searchbox', { name: 'Search images' });
    await box.fill('dog');
    await page.waitForURL(/\?q=dog$/);
    const card = page.locator('.grid .card[data-filename="dog.jpg"]');
    await card.waitFor();
    const names = await page.locator('.grid .card').evaluateAll((els) => els.map((e) => e.dataset.filename));
    const at = names.indexOf('dog.jpg');
    const then = names[at + 1] || names[at - 1];
    await card.locator('.card-link').click();
    const dialog = page.getByRole('dialog', { name: 'dog.jpg' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Delete…' }).click();
    const confirm = page.getByRole('dialog', { name: /Delete dog\.jpg\?/ });
    await confirm.waitFor();
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.waitForFunction(() => !document.querySelector('dialog.confirm'));
    // the detail goes on to the next result, the deleted one is out of the grid
    await page.getByRole('dialog', { name: then }).waitFor();
    await page.waitForFunction(() => !document.querySelector('.grid .card[data-filename="dog.jpg"]'));
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('dialog.detail'));
    await page.reload();
    await page.locator('.grid .card, .empty').first().waitFor();
    await page.waitForFunction(() => !document.querySelector('.grid.stale'));
    assert.equal(await page.locator('.grid .card[data-filename="dog.jpg"]').count(), 0);
    assert.ok((await page.locator('.grid .card[data-filename="person.jpg"]').count()) === 1, 'the other dog is still found');
    const list = await (await fetch(`${server.base}/v1/images?limit=50`)).json();
    assert.deepEqual(list.images.map((i) => i.filename).sort(), ['horses.jpg', 'kite.jpg', 'person.jpg']);
  });

  it('a bad query shows an error, and nothing breaks', async () => {
    const box = page.getByRole('searchbox', { name: 'Search images' });
    await box.fill('"unterminated');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.textContent(), /unterminated quote/);
    assert.match(await alert.textContent(), /400/);
    await shot(page, 'bad-query');
    await box.fill('kite');
    await page.locator('.grid .card[data-filename="kite.jpg"]').waitFor();
    assert.equal(await page.getByRole('alert').count(), 0);
  });

  it('had no script error, no failed module, nothing loaded from elsewhere', () => {
    assert.deepEqual(browser.errors, []);
  });
});
