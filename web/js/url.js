// url.js -- the app's state that lives in the URL, so that a search can be
// shared, bookmarked, reloaded, and walked with Back and Forward.
//
//   /?q=two+dogs&label=dog&emotion=happy&has_text=true&from=2019-01-01
//     &to=2019-12-31&sort=date&similar=ID&open=ID      the search page
//   /library?open=ID                                   every image, newest first
//   /jobs                                              recent jobs
//   /people, /people?person=ID                         people; one person's faces
//
// `person` is also a search filter (/?q=smiling&person=3: photos of that
// person).
// `open` names the image shown in the detail view over whichever page is
// open. Pure functions (no DOM), tested by tests/browser/unit.test.mjs.

export const FILTERS = ['label', 'emotion', 'has_text', 'from', 'to', 'person'];
const VIEWS = { '/': 'search', '/library': 'library', '/jobs': 'jobs', '/people': 'people' };
const PATHS = { search: '/', library: '/library', jobs: '/jobs', people: '/people' };
const ID = /^[1-9][0-9]{0,17}$/;
const DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;

export function parseRoute(pathname, search) {
  const p = new URLSearchParams(search || '');
  const path = pathname && pathname.length > 1 ? pathname.replace(/\/+$/, '') : '/';
  const r = {
    view: VIEWS[path] || 'search',
    q: p.get('q') || '',
    label: p.get('label') || '',
    emotion: p.get('emotion') || '',
    has_text: ['true', 'false'].includes(p.get('has_text')) ? p.get('has_text') : '',
    from: DATE.test(p.get('from') || '') ? p.get('from') : '',
    to: DATE.test(p.get('to') || '') ? p.get('to') : '',
    person: ID.test(p.get('person') || '') ? p.get('person') : '',
    sort: p.get('sort') === 'date' ? 'date' : '',
    similar: p.get('similar') || '',
    open: p.get('open') || '',
  };
  return r;
}

// The URL of a route, with empty and default values left out.
export function routeUrl(r) {
  const p = new URLSearchParams();
  if (r.view === 'search') {
    for (const k of ['q', ...FILTERS, 'sort', 'similar']) if (r[k]) p.set(k, r[k]);
  }
  if (r.view === 'people' && r.person) p.set('person', r.person);
  if (r.open) p.set('open', r.open);
  const qs = p.toString();
  return (PATHS[r.view] || '/') + (qs ? '?' + qs : '');
}

// The same route with some fields changed (undefined keeps, '' clears).
export function withRoute(r, changes) {
  return { ...r, ...changes };
}

export function activeFilters(r) {
  return FILTERS.filter((k) => r[k]).map((k) => ({ key: k, value: r[k] }));
}

// What the search page asks the API: /v1/search, or /v1/images/{id}/similar
// for "more like this". Returns null when there is nothing to ask (an
// empty box and no filter): the page then shows the newest images.
export function searchRequest(r, offset, limit) {
  if (r.similar) {
    const p = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    return `/v1/images/${encodeURIComponent(r.similar)}/similar?` + p;
  }
  const filters = activeFilters(r);
  if (!r.q.trim() && !filters.length) return null;
  const p = new URLSearchParams({ q: r.q, limit: String(limit), offset: String(offset) });
  for (const f of filters) p.set(f.key, f.value);
  if (r.sort) p.set('sort', r.sort);
  return '/v1/search?' + p;
}

// Whether two routes show the same results (the detail view aside).
export function sameResults(a, b) {
  return ['view', 'q', ...FILTERS, 'sort', 'similar'].every((k) => a[k] === b[k]);
}
