// measure.mjs -- the web app's timings against a running server (bench/web):
// first paint and "ready" of the search page on loopback, each in a fresh
// browser profile (cold cache) and again warm (same profile: assets come
// from the cache, index.html is revalidated); then, for a mix of queries,
// how long the results take to be on screen after the API answered
// (window.__scry.renders, measured by the page: JSON parsed -> next paint)
// side by side with the API's own time seen by the page (fetch -> JSON) as
// the baseline; then the library: first page, and a jump to the middle of
// the collection.
//
//   node bench/web.d/measure.mjs BASE_URL
import { launch } from '../../tests/browser/lib.mjs';

const base = process.argv[2];
const QUERIES = ['dog', 'two dogs', 'a red car', 'people smiling', 'animals without people', 'a man riding a horse',
  'pizza on a table', 'sign saying "open"', 'photos from 2019', 'a cat on a sofa', 'kitchen', 'a bus in the street',
  'three people', 'a sad face', 'bicycle', 'sheep in a field', 'a woman with an umbrella', 'laptop', 'birds', 'a boat',
  'yellow', 'surfboard on the beach', 'a clock tower', 'food', 'vehicles', 'a dog and a cat', 'no people', 'tennis',
  'elephant', 'a train at a station'];

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f1 = (x) => x.toFixed(1);

async function firstPaint(page) {
  const t0 = Date.now();
  await page.goto(base + '/');
  await page.waitForFunction(() => performance.getEntriesByName('scry:ready').length > 0);
  const wall = Date.now() - t0;
  return page.evaluate((wallMs) => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const ready = performance.getEntriesByName('scry:ready')[0];
    return { ttfb: nav.responseStart, fcp: fcp ? fcp.startTime : NaN, ready: ready.startTime, wall: wallMs };
  }, wall);
}

const cold = [], warm = [];
for (let i = 0; i < 5; i++) {
  const b = await launch();
  cold.push(await firstPaint(b.page));
  warm.push(await firstPaint(b.page));
  await b.close();
}
console.log('\nsearch page, loopback (5 runs each; ms from navigation start)');
console.log('              TTFB (baseline)   first contentful paint   ready (box enabled)');
for (const [name, runs] of [['cold cache', cold], ['warm cache', warm]]) {
  console.log(`${name.padEnd(12)}  ${f1(pct(runs.map((r) => r.ttfb), 0.5)).padStart(15)}   ${f1(pct(runs.map((r) => r.fcp), 0.5)).padStart(22)}   ${f1(pct(runs.map((r) => r.ready), 0.5)).padStart(19)}   (median; worst ready ${f1(Math.max(...runs.map((r) => r.ready)))})`);
}

const b = await launch();
const page = b.page;
await page.goto(base + '/');
await page.waitForFunction(() => performance.getEntriesByName('scry:ready').length > 0);
const total = await page.evaluate(async () => (await (await fetch('/healthz')).json()).images);
const box = page.getByRole('searchbox', { name: 'Search images' });
const api = [], render = [], counts = [], commit = [];
for (let pass = 0; pass < 2; pass++) {
  for (const q of QUERIES) {
    const before = await page.evaluate(() => window.__scry.renders.length);
    await box.fill(q);
    await page.waitForFunction((n) => window.__scry.renders.length > n && window.__scry.renders[window.__scry.renders.length - 1].kind === 'search', before, { timeout: 60000 });
    const r = await page.evaluate(() => window.__scry.renders[window.__scry.renders.length - 1]);
    if (pass === 1) { api.push(r.api_ms); render.push(r.render_ms); counts.push(r.n); commit.push(r.commit_ms); }
  }
}
console.log(`\nsearch results at ${total.toLocaleString()} images: ${QUERIES.length} queries, second pass (the first warms the server's lexicon)`);
console.log(`               API seen by the page (baseline)   results on screen after the API answered   results/query`);
console.log(`p50 ms   ${f1(pct(api, 0.5)).padStart(20)}   ${f1(pct(render, 0.5)).padStart(40)}   ${f1(counts.reduce((a, x) => a + x, 0) / counts.length).padStart(13)}   (of which the DOM commit, p50 ${f1(pct(commit, 0.5))} ms)`);
console.log(`p95 ms   ${f1(pct(api, 0.95)).padStart(20)}   ${f1(pct(render, 0.95)).padStart(40)}`);
console.log(`max ms   ${f1(Math.max(...api)).padStart(20)}   ${f1(Math.max(...render)).padStart(40)}`);

// the library: first page, then a jump to the middle
await page.goto(base + '/library');
await page.waitForFunction(() => window.__scry.renders.some((r) => r.kind === 'library'), null, { timeout: 60000 });
const lib = await page.evaluate(() => window.__scry.renders.find((r) => r.kind === 'library'));
const t0 = Date.now();
await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight / 2));
// done when the cards on screen are real ones (their page fetched) and none
// on screen is a placeholder
await page.waitForFunction(() => {
  const onScreen = (el) => { const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; };
  return [...document.querySelectorAll('.vcard:not(.placeholder)')].filter(onScreen).length > 5 &&
    ![...document.querySelectorAll('.vcard.placeholder')].some(onScreen);
}, null, { timeout: 60000 });
const jump = Date.now() - t0;
const dom = await page.locator('.vcard').count();
const where = await page.evaluate(() => Math.round(window.scrollY));
console.log(`\nlibrary at ${total.toLocaleString()} images: first page ${lib.n} cards, API ${f1(lib.api_ms)} ms, on screen ${f1(lib.render_ms)} ms after; jump to the middle (scrollY ${where.toLocaleString()} px) ${jump} ms (fetch of a page at offset ~${Math.round(total / 2).toLocaleString()} + render); ${dom} cards in the DOM`);
await b.close();
console.log(`web: fcp_ms=${f1(pct(cold.map((r) => r.fcp), 0.5))} ready_ms=${f1(pct(cold.map((r) => r.ready), 0.5))} render_p50_ms=${f1(pct(render, 0.5))} render_p95_ms=${f1(pct(render, 0.95))} api_p50_ms=${f1(pct(api, 0.5))} images=${total}`);
