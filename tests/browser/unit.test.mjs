// The web app's pure modules (no DOM), run by node itself: the URL state
// (web/js/url.js) and turning API facts into what the page shows
// (web/js/facts.js).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  boxesOf, extraFields, faceTitle, formatBytes, formatGps, looksLikeImage, relativeTime, topScores, understoodChips,
  whyChips,
} from '../../web/js/facts.js';
import { activeFilters, parseRoute, routeUrl, sameResults, searchRequest } from '../../web/js/url.js';

describe('url.js', () => {
  it('round-trips every field through the URL, leaving defaults out', () => {
    const r = parseRoute('/', '?q=two+dogs&label=dog&emotion=happy&has_text=true&from=2019-01-01&to=2019-12&sort=date&open=abc');
    assert.deepEqual(r, { view: 'search', q: 'two dogs', label: 'dog', emotion: 'happy', has_text: 'true',
      from: '2019-01-01', to: '2019-12', person: '', sort: 'date', similar: '', open: 'abc' });
    assert.deepEqual(parseRoute('/', routeUrl(r).slice(1)), r);
    assert.equal(routeUrl(parseRoute('/', '')), '/');
    assert.equal(routeUrl({ ...parseRoute('/library', '?q=x&open=id1'), open: 'id1' }), '/library?open=id1');
    assert.equal(parseRoute('/jobs/', '').view, 'jobs');
  });
  it('drops what the API would refuse', () => {
    const r = parseRoute('/', '?has_text=maybe&from=yesterday&sort=sideways');
    assert.equal(r.has_text, '');
    assert.equal(r.from, '');
    assert.equal(r.sort, '');
  });
  it('asks the API for what the page shows', () => {
    assert.equal(searchRequest(parseRoute('/', ''), 0, 60), null);      // empty box: newest images
    const s = new URL('http://x' + searchRequest(parseRoute('/', '?q=red+car&has_text=false&sort=date'), 60, 60));
    assert.equal(s.pathname, '/v1/search');
    assert.deepEqual(Object.fromEntries(s.searchParams), { q: 'red car', limit: '60', offset: '60', has_text: 'false', sort: 'date' });
    assert.equal(new URL('http://x' + searchRequest(parseRoute('/', '?label=dog'), 0, 10)).searchParams.get('q'), '');
    assert.match(searchRequest(parseRoute('/', '?similar=abc&q=x'), 20, 10), /^\/v1\/images\/abc\/similar\?limit=10&offset=20$/);
    assert.deepEqual(activeFilters(parseRoute('/', '?emotion=sad&q=x')), [{ key: 'emotion', value: 'sad' }]);
    assert.ok(sameResults(parseRoute('/', '?q=a&open=1'), parseRoute('/', '?q=a&open=2')));
    assert.ok(!sameResults(parseRoute('/', '?q=a'), parseRoute('/', '?q=a&label=dog')));
  });
  it('people: the page, one person, and the person filter', () => {
    assert.equal(parseRoute('/people', '').view, 'people');
    const one = parseRoute('/people', '?person=12&open=img');
    assert.equal(one.person, '12');
    assert.equal(routeUrl(one), '/people?person=12&open=img');
    assert.equal(parseRoute('/', '?person=0').person, '');          // ids are positive integers
    assert.equal(parseRoute('/', '?person=Anna').person, '');
    const s = new URL('http://x' + searchRequest(parseRoute('/', '?q=smiling&person=3'), 0, 60));
    assert.equal(s.searchParams.get('person'), '3');
    assert.deepEqual(activeFilters(parseRoute('/', '?person=3')), [{ key: 'person', value: '3' }]);
    assert.equal(searchRequest(parseRoute('/', '?person=3'), 0, 60) === null, false);  // a filter alone searches
  });
});

describe('facts.js: people', () => {
  it("a person's part of `why` is a person chip that filters by the person", () => {
    const people = new Map([['anna', 7]]);
    assert.deepEqual(whyChips('Anna (face 0.93) · happy face', new Set(), people), [
      { text: 'Anna (face 0.93)', kind: 'person', filter: { key: 'person', value: '7' } },
      { text: 'happy face', kind: 'emotion', filter: { key: 'emotion', value: 'happy' } },
    ]);
    assert.deepEqual(whyChips('person 12 (face 0.81)', new Set(), people)[0].filter, { key: 'person', value: '12' });
    assert.equal(whyChips('Ben (face 0.70)', new Set(), people)[0].filter, null);   // not a known name
    assert.equal(whyChips('face 0.66', new Set(), people)[0].kind, 'fact');         // ?face= search
  });
  it('understood people, excluded people and a query face', () => {
    const u = { people: [{ id: 7, name: 'Anna', images: 4 }], without_people: [{ id: 9, name: null, images: 2 }], face: 31 };
    assert.deepEqual(understoodChips(u), [
      { kind: 'person', text: 'Anna' }, { kind: 'negation', text: 'without person 9' }, { kind: 'person', text: 'a face like face 31' },
    ]);
  });
  it("a face's title names its person", () => {
    assert.equal(faceTitle({ person_id: 7, person_name: 'Anna', emotion: 'happy' }, 0), 'Anna · happy');
    assert.equal(faceTitle({ person_id: 9, person_name: null }, 1), 'person 9');
    assert.equal(faceTitle({}, 2), 'face 3');
  });
});

describe('facts.js', () => {
  const labels = new Set(['dog', 'horse', 'teddy bear', 'car']);
  it('splits why into chips, filters where the API has one', () => {
    const chips = whyChips("red car ×2 · teddy bear · happy face · text 'OPEN' · words: horses · Anna · similar 0.87", labels);
    assert.deepEqual(chips.map((c) => [c.text, c.kind, c.filter]), [
      ['red car ×2', 'label', { key: 'label', value: 'car' }],
      ['teddy bear', 'label', { key: 'label', value: 'teddy bear' }],
      ['happy face', 'emotion', { key: 'emotion', value: 'happy' }],
      ['text: OPEN', 'text', { key: 'has_text', value: 'true' }],
      ['words: horses', 'words', null],
      ['Anna', 'fact', null],                          // a new kind of fact: shown as it is
      ['similar 0.87', 'score', null],
    ]);
    assert.deepEqual(whyChips('', labels), []);
    assert.equal(whyChips('unicorn ×3', labels)[0].filter, null);   // not in the collection
    assert.equal(whyChips('grumpy face', labels)[0].kind, 'fact');
  });
  it('says what Scry understood', () => {
    const u = { objects: [{ word: 'dog', labels: ['dog'], min: 2, max: 2, preferred: null, color: null, emotion: null },
      { word: 'animals', labels: ['dog', 'cat', 'horse', 'bird', 'sheep', 'cow'], min: 1, max: null, preferred: null, color: 'brown', emotion: null },
      { word: 'person', labels: ['person'], min: 1, max: null, preferred: null, color: null, emotion: 'happy' }],
    excluded: ['car'], has_text: true, texts: ['OPEN'], colors: ['red'], date: { from: '2019-01-01T00:00:00Z', to: '2020-01-01T00:00:00Z' }, residual: 'x' };
    assert.deepEqual(understoodChips(u).map((c) => c.text), [
      '2 dog', 'brown animals (dog, cat, horse, bird +2)', 'happy person', 'without car', 'has text', 'text “OPEN”',
      'colour red', 'taken 2019-01-01 – 2019-12-31']);
    assert.deepEqual(understoodChips(null), []);
    assert.deepEqual(understoodChips({ objects: [{ word: 'dog', labels: ['dog'], min: 0, max: 0 }] }).map((c) => c.text), ['no dog']);
  });
  it('finds every located fact, in image pixels', () => {
    const img = { tags: [{ label: 'horse', score: 0.6, box: [1, 2, 3, 4] }, { label: 'outdoor', score: 0.9 }],
      faces: [{ box: [5, 6, 7, 8], emotion: 'happy', person: 'Anna' }, { box: [1, 1, 1] }],
      words: [{ text: 'OPEN', box: [9, 9, 9, 9], conf: 0.8 }] };
    assert.deepEqual(boxesOf(img).map((b) => [b.id, b.kind, b.label, b.box]), [
      ['tag-0', 'object', 'horse', [1, 2, 3, 4]], ['face-0', 'face', 'Anna · happy', [5, 6, 7, 8]],
      ['word-0', 'text', 'OPEN', [9, 9, 9, 9]]]);
    assert.equal(faceTitle({}, 2), 'face 3');
  });
  it('renders fields it has no view for', () => {
    assert.deepEqual(extraFields({ box: [1], emotion: 'sad', age: 31, gender: 'female', glasses: false, scores: { a: 0.5 },
      person_id: 'p1', empty: '' }, ['box', 'emotion']),
    [['age', '31'], ['gender', 'female'], ['glasses', 'no'], ['scores', 'a 0.50'], ['person id', 'p1']]);
    assert.deepEqual(topScores({ happy: 0.7, sad: 0.1, neutral: 0.2 }, 2), [['happy', 0.7], ['neutral', 0.2]]);
  });
  it('formats sizes, places and times', () => {
    assert.equal(formatBytes(133495), '133 KB');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1.4e6), '1.4 MB');
    assert.equal(formatGps({ lat: 48.858, lon: -2.2945 }), '48.85800° N, 2.29450° W');
    assert.equal(formatGps(null), '');
    const now = Date.parse('2026-01-01T12:00:00Z');
    assert.equal(relativeTime('2026-01-01T11:58:00Z', now), '2 min ago');
    assert.equal(relativeTime('2025-12-01T11:58:00Z', now), '2025-12-01');
  });
  it('recognises the image signatures the server takes', () => {
    const b = (...v) => Uint8Array.from(v);
    const ascii = (s) => Uint8Array.from([...s].map((c) => c.charCodeAt(0)));
    assert.ok(looksLikeImage(b(0xff, 0xd8, 0xff, 0xe0)));
    assert.ok(looksLikeImage(b(0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10)));
    assert.ok(looksLikeImage(ascii('GIF89a')));
    assert.ok(looksLikeImage(ascii('RIFF\0\0\0\0WEBPVP8 ')));
    assert.ok(looksLikeImage(ascii('\0\0\0\x1cftypheic')));
    assert.ok(!looksLikeImage(ascii('these are words')));
    assert.ok(!looksLikeImage(b()));
  });
});
