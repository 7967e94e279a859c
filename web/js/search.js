// search.js -- the search page: filters, "what Scry understood", and the
// results grid (pages of results fetched as the user scrolls), or "more
// like this" for one image, or the newest images when the box is empty.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get } from './api.js';
import { html, Chip, Thumb, ErrorBox, onCollectionChange } from './ui.js';
import { activeFilters, routeUrl, sameResults, searchRequest } from './url.js';
import { personName, understoodChips, whyChips, EMOTIONS } from './facts.js';
import { resultsArrived } from './perf.js';

const PAGE = 60;

export function SearchView({ route, navigate, facets, people, setList, openImage }) {
  const [state, setState] = useState({ status: 'idle', results: [], understood: null, error: null, more: false });
  const [reload, setReload] = useState(0);
  const routeRef = useRef(route);
  const labelSet = useMemo(() => new Set((facets && facets.labels || []).map((l) => l.label)), [facets]);
  // name (lower case) -> id, for the chips; id -> person, for the filter
  const peopleByName = useMemo(() => new Map(((people && people.people) || []).filter((p) => p.name)
    .map((p) => [p.name.toLowerCase(), p.id])), [people]);

  // A new query, filter or "similar": start from the first page.
  const key = JSON.stringify([route.q, route.label, route.emotion, route.has_text, route.from, route.to, route.person, route.sort, route.similar]);
  useEffect(() => {
    routeRef.current = route;
    const ctl = new AbortController();
    load(route, 0, ctl.signal, false);
    return () => ctl.abort();
  }, [key, reload]);
  useEffect(() => onCollectionChange(() => setReload((n) => n + 1)), []);
  useEffect(() => { setList(state.results.map((r) => r.id)); }, [state.results]);
  // The results are in the DOM: time it (perf.js).
  const pendingDone = useRef(null);
  useLayoutEffect(() => {
    if (pendingDone.current && state.status === 'ok') { pendingDone.current(state.results.length); pendingDone.current = null; }
  }, [state.results, state.status]);

  async function load(r, offset, signal, append) {
    const path = searchRequest(r, offset, PAGE);
    const recent = !path;
    setState((s) => ({ ...s, status: append ? 'more' : 'loading', error: null }));
    const t0 = performance.now();
    try {
      const doc = await get(path || `/v1/images?limit=${PAGE}&offset=${offset}`, { signal });
      if (!sameResults(routeRef.current, r)) return;
      pendingDone.current = resultsArrived(r.similar ? 'similar' : recent ? 'recent' : 'search', performance.now() - t0);
      const page = recent ? doc.images : doc.results;
      setState((s) => ({
        status: 'ok',
        recent,
        results: append ? [...s.results, ...page] : page,
        understood: recent ? null : doc.understood || null,
        took: doc.took_ms,
        error: null,
        more: page.length === PAGE,
      }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      setState((s) => ({ ...s, status: 'error', error: e, results: append ? s.results : [] }));
    }
  }

  // Infinite scroll: a sentinel under the grid loads the next page.
  const sentinel = useRef(null);
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !state.more || state.status !== 'ok') return undefined;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        io.disconnect();
        load(routeRef.current, state.results.length, undefined, true);
      }
    }, { rootMargin: '800px' });
    io.observe(el);
    return () => io.disconnect();
  }, [state.more, state.status, state.results.length]);

  const toggle = (f) => {
    const on = route[f.key] === f.value;
    navigate({ ...route, [f.key]: on ? '' : f.value, open: '' });
  };

  return html`<section class="search" aria-label="Search results">
    ${!(facets && facets.images === 0 && !activeFilters(route).length) && html`<${Filters} route=${route} navigate=${navigate} facets=${facets} people=${people} />`}
    ${route.similar && html`<${SimilarHeader} id=${route.similar} route=${route} navigate=${navigate} />`}
    ${state.understood && html`<${Understood} u=${state.understood} />`}
    <${ErrorBox} error=${state.error} onRetry=${() => setReload((n) => n + 1)} />
    ${state.status === 'ok' && !state.results.length && html`<${NoResults} route=${route} navigate=${navigate} recent=${state.recent} people=${people} />`}
    ${state.recent && state.results.length > 0 && html`<h2 class="section-title">Newest images</h2>`}
    <p class="sr-only" aria-live="polite">${state.status === 'ok' ? `${state.results.length}${state.more ? '+' : ''} results` : ''}</p>
    <ul class=${`grid${state.status === 'loading' ? ' stale' : ''}`} aria-busy=${state.status === 'loading' ? 'true' : 'false'}>
      ${state.results.map((r) => html`<${ResultCard} key=${r.id} r=${r} route=${route} labels=${labelSet} people=${peopleByName}
        onOpen=${() => openImage(r.id)} onToggle=${toggle} />`)}
    </ul>
    ${state.more && html`<div ref=${sentinel} class="sentinel">${state.status === 'more' ? 'Loading more…' : ''}</div>`}
  </section>`;
}

function ResultCard({ r, route, labels, people, onOpen, onToggle }) {
  const chips = r.why !== undefined ? whyChips(r.why, labels, people) : [];
  const href = routeUrl({ ...route, open: r.id });
  const title = r.caption || r.filename;
  return html`<li class="card" data-id=${r.id} data-filename=${r.filename}>
    <a class="card-link" href=${href} title=${title}
       onClick=${(e) => { if (e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey) { e.preventDefault(); onOpen(); } }}>
      <${Thumb} id=${r.id} alt=${r.caption || r.filename} status=${r.status} />
      <span class="card-name">${r.filename}</span>
    </a>
    ${(typeof r.score === 'number' || chips.length > 0) && html`<div class="card-facts">
      ${typeof r.score === 'number' && html`<span class="score" title="relevance score (0–1)">${r.score.toFixed(2)}</span>`}
      ${chips.map((c) => html`<${Chip} text=${c.text} kind=${c.kind}
        active=${c.filter && route[c.filter.key] === c.filter.value}
        onToggle=${c.filter ? () => onToggle(c.filter) : null} />`)}
    </div>`}
  </li>`;
}

function Understood({ u }) {
  const chips = understoodChips(u);
  if (!chips.length && !u.residual) return null;
  return html`<div class="understood" aria-label="What Scry understood">
    <span class="understood-title">Scry understood:</span>
    ${chips.map((c) => html`<${Chip} text=${c.text} kind=${'u-' + c.kind} />`)}
    ${u.residual && html`<span class="understood-residual">words “${u.residual}”</span>`}
  </div>`;
}

function SimilarHeader({ id, route, navigate }) {
  const [img, setImg] = useState(null);
  useEffect(() => { get(`/v1/images/${encodeURIComponent(id)}`).then(setImg, () => setImg(null)); }, [id]);
  return html`<div class="similar-head">
    <span>Images like <strong>${img ? img.filename : '…'}</strong></span>
    <button type="button" class="link" onClick=${() => navigate({ ...route, similar: '', open: '' })}>back to search</button>
  </div>`;
}

function NoResults({ route, navigate, recent, people }) {
  if (recent) {
    return html`<div class="empty"><h2>No images yet</h2>
      <p>Drop photos or folders anywhere on this page, or use <strong>Upload</strong> above.</p></div>`;
  }
  const filters = activeFilters(route);
  return html`<div class="empty" role="status">
    <h2>No images match${route.q ? html` “${route.q}”` : ''}${filters.length ? ' with these filters' : ''}.</h2>
    ${filters.length > 0 ? html`<p>Try without:
        ${filters.map((f) => html` <button type="button" class="chip chip-suggest"
          onClick=${() => navigate({ ...route, [f.key]: '', open: '' })}>${filterText(f, people)} ✕</button>`)}
      </p>`
      : html`<p>Try fewer or more general words (“animals” finds dogs, cats and horses), or drop a count or a colour.</p>`}
  </div>`;
}

export function filterText(f, people) {
  switch (f.key) {
    case 'person': {
      const p = ((people && people.people) || []).find((x) => String(x.id) === f.value);
      return p && p.name ? p.name : `person ${f.value}`;
    }
    case 'label': return `label: ${f.value}`;
    case 'emotion': return `${f.value} face`;
    case 'has_text': return f.value === 'true' ? 'has text' : 'no text';
    case 'from': return `from ${f.value}`;
    case 'to': return `until ${f.value}`;
    default: return `${f.key}: ${f.value}`;
  }
}

function Filters({ route, navigate, facets, people }) {
  const set = (k) => (e) => navigate({ ...route, [k]: e.currentTarget.value, open: '' });
  const labels = (facets && facets.labels) || [];
  const emotions = (facets && facets.emotions && facets.emotions.length) ? facets.emotions
    : EMOTIONS.map((e) => ({ emotion: e, count: null }));
  const filters = activeFilters(route);
  const hasLabel = route.label && !labels.some((l) => l.label === route.label);
  const persons = (people && people.people) || [];
  const hasPerson = route.person && !persons.some((p) => String(p.id) === route.person);
  const [open, setOpen] = useState(false);     // small screens only: folded by default
  return html`<form class=${`filters${open ? ' open' : ''}`} onSubmit=${(e) => e.preventDefault()} aria-label="Filters">
    <button type="button" class="filters-toggle" aria-expanded=${open ? 'true' : 'false'} onClick=${() => setOpen(!open)}>
      Filters${filters.length ? ` (${filters.length})` : ''} ${open ? '▴' : '▾'}</button>
    <label>Label
      <select name="label" value=${route.label} onChange=${set('label')}>
        <option value="">any</option>
        ${hasLabel && html`<option value=${route.label}>${route.label}</option>`}
        ${labels.map((l) => html`<option value=${l.label}>${l.label} (${l.count})</option>`)}
      </select></label>
    <label>Face
      <select name="emotion" value=${route.emotion} onChange=${set('emotion')}>
        <option value="">any</option>
        ${emotions.map((e) => html`<option value=${e.emotion}>${e.emotion}${e.count !== null ? ` (${e.count})` : ''}</option>`)}
      </select></label>
    ${(persons.length > 0 || route.person) && html`<label>Person
      <select name="person" value=${route.person} onChange=${set('person')}>
        <option value="">anyone</option>
        ${hasPerson && html`<option value=${route.person}>person ${route.person}</option>`}
        ${persons.map((p) => html`<option value=${String(p.id)}>${personName(p)} (${p.images})</option>`)}
      </select></label>`}
    <label>Text
      <select name="has_text" value=${route.has_text} onChange=${set('has_text')}>
        <option value="">any</option><option value="true">has text</option><option value="false">no text</option>
      </select></label>
    <label>From <input type="date" name="from" value=${route.from.length === 10 ? route.from : ''}
      min=${facets && facets.dates ? facets.dates.from : null} onChange=${set('from')} /></label>
    <label>To <input type="date" name="to" value=${route.to.length === 10 ? route.to : ''}
      max=${facets && facets.dates ? facets.dates.to : null} onChange=${set('to')} /></label>
    <label>Sort
      <select name="sort" value=${route.sort} onChange=${set('sort')}>
        <option value="">relevance</option><option value="date">date taken</option>
      </select></label>
    ${filters.length > 0 && html`<button type="button" class="link" onClick=${() =>
      navigate({ ...route, label: '', emotion: '', has_text: '', from: '', to: '', person: '', open: '' })}>clear filters</button>`}
  </form>`;
}
