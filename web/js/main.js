// main.js -- the app's shell: the header (search box, pages, upload), the
// page named by the URL, the detail view over it, uploads, and the sign-in
// gate. State that should survive a reload or be shareable lives in the
// URL (url.js); the rest in the component that owns it.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, onUnauthorized, session, signOut } from './api.js';
import { html, ErrorBox, collectionChanged, onCollectionChange } from './ui.js';
import { parseRoute, routeUrl } from './url.js';
import { SearchView } from './search.js';
import { LibraryView } from './library.js';
import { JobsView } from './jobs.js';
import { PeopleView, listPeople } from './people.js';
import { Detail } from './detail.js';
import { DropZone, UploadButton, UploadPanel } from './upload.js';
import { SignIn } from './signin.js';

const DEBOUNCE_MS = 200;
const here = () => parseRoute(location.pathname, location.search);

function App() {
  const [route, setRoute] = useState(here);
  const [auth, setAuth] = useState(null);          // GET /v1/session, once known
  const [needSignIn, setNeedSignIn] = useState(false);
  const [bootError, setBootError] = useState(null);
  const [facets, setFacets] = useState(null);
  const [people, setPeople] = useState(null);      // GET /v1/people; false: recognition off
  const [list, setListState] = useState([]);

  const navigate = (r, { replace = false, state = null } = {}) => {
    const url = routeUrl(r);
    if (url !== location.pathname + location.search) history[replace ? 'replaceState' : 'pushState'](state, '', url);
    setRoute(r);
  };
  useEffect(() => {
    const pop = () => setRoute(here());
    window.addEventListener('popstate', pop);
    return () => window.removeEventListener('popstate', pop);
  }, []);

  useEffect(() => {
    onUnauthorized(() => setNeedSignIn(true));
    session().then((s) => { setAuth(s); setNeedSignIn(!!s.auth && !s.signed_in); }, setBootError);
  }, []);
  const loadFacets = () => get('/v1/facets').then(setFacets, () => {});
  useEffect(() => { if (auth && !needSignIn) loadFacets(); }, [auth, needSignIn]);
  useEffect(() => onCollectionChange(loadFacets), []);
  const loadPeople = () => listPeople().then(setPeople, () => {});
  useEffect(() => { if (auth && !needSignIn) loadPeople(); }, [auth, needSignIn]);
  useEffect(() => onCollectionChange(loadPeople), []);

  // "ready": the page can be used (session known, search box enabled); a
  // User Timing mark that bench/web reads.
  useEffect(() => { if (auth && !performance.getEntriesByName('scry:ready').length) performance.mark('scry:ready'); }, [auth]);
  const setList = (ids) => setListState((prev) => (prev.length === ids.length && prev.every((x, i) => x === ids[i]) ? prev : ids));
  const openImage = (id) => navigate({ ...route, open: id }, { state: { detail: true } });
  const goImage = (id) => navigate({ ...route, open: id }, { replace: true, state: history.state });
  const closeImage = () => {
    if (history.state && history.state.detail) history.back();
    else navigate({ ...route, open: '' }, { replace: true });
  };
  const similar = (id) => navigate({ ...parseRoute('/', ''), similar: id });

  if (bootError) return html`<main class="page"><${ErrorBox} error=${bootError} onRetry=${() => location.reload()} /></main>`;
  if (!auth) return html`<${Header} route=${route} navigate=${navigate} disabled />`;
  if (needSignIn) {
    return html`<${SignIn} reason=${auth.auth ? null : 'The server answered 401: it needs an API key.'}
      onSignedIn=${() => { setNeedSignIn(false); session().then(setAuth); collectionChanged('signed-in'); }} />`;
  }
  const signedIn = auth.auth && auth.signed_in;
  return html`
    <${Header} route=${route} navigate=${navigate} signedIn=${signedIn} peopleOn=${people !== false}
      onSignOut=${() => signOut().finally(() => { setAuth({ ...auth, signed_in: false }); setNeedSignIn(true); })} />
    <main class="page" id="main">
      ${route.view === 'search' && html`<${SearchView} route=${route} navigate=${navigate} facets=${facets} people=${people || null} setList=${setList} openImage=${openImage} />`}
      ${route.view === 'library' && html`<${LibraryView} route=${route} setList=${setList} openImage=${openImage} />`}
      ${route.view === 'jobs' && html`<${JobsView} openImage=${openImage} />`}
      ${route.view === 'people' && html`<${PeopleView} route=${route} navigate=${navigate} setList=${setList} />`}
    </main>
    ${route.open && html`<${Detail} id=${route.open} list=${list} onClose=${closeImage} onGo=${goImage} onSimilar=${similar}
      onPerson=${people === false ? null : (pid) => navigate({ ...parseRoute('/people', ''), person: String(pid) })} />`}
    <${UploadPanel} openImage=${openImage} />
    <${DropZone} />`;
}

function Header({ route, navigate, signedIn, onSignOut, disabled, peopleOn }) {
  const [text, setText] = useState(route.q);
  const timer = useRef(0);
  const input = useRef(null);
  const typed = useRef(route.q);
  // Back/Forward (or a chip) changed the query: show it.
  useEffect(() => { if (route.q !== typed.current) { typed.current = route.q; setText(route.q); } }, [route.q]);
  // Search first: the box has the focus when the app opens on it (the
  // autofocus attribute works only for markup parsed at load).
  useEffect(() => { if (!disabled && route.view === 'search' && !route.open) input.current.focus(); }, [disabled]);
  useEffect(() => {
    const key = (e) => {
      if (e.key === '/' && !e.target.closest('input, textarea, select, dialog')) { e.preventDefault(); input.current.focus(); }
    };
    window.addEventListener('keydown', key);
    return () => window.removeEventListener('keydown', key);
  }, []);
  const commit = (q, replace) => {
    clearTimeout(timer.current);
    typed.current = q;
    const base = route.view === 'search' ? route : parseRoute('/', '');
    navigate({ ...base, view: 'search', q, similar: '', open: '' }, { replace: replace && route.view === 'search' });
  };
  const onInput = (e) => {
    const q = e.currentTarget.value;
    setText(q);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => commit(q, true), DEBOUNCE_MS);
  };
  const nav = (view) => (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey) return;
    e.preventDefault();
    navigate({ ...parseRoute('/', ''), view, q: view === 'search' ? route.q : '' });
  };
  return html`<header class="top">
    <div class="top-row">
      <a class="brand" href="/" onClick=${nav('search')}>Scry</a>
      <form class="searchbox" role="search" onSubmit=${(e) => { e.preventDefault(); commit(text, false); }}>
        <input ref=${input} type="search" name="q" value=${text} onInput=${onInput} disabled=${disabled}
          placeholder="Search: “two dogs on a beach”, “red car”, sign saying “open”, animals without people"
          aria-label="Search images" autocomplete="off" spellcheck="false" autofocus />
      </form>
      <nav class="tabs" aria-label="Pages">
        <a href="/" aria-current=${route.view === 'search' ? 'page' : null} onClick=${nav('search')}>Search</a>
        <a href="/library" aria-current=${route.view === 'library' ? 'page' : null} onClick=${nav('library')}>Library</a>
        ${peopleOn && html`<a href="/people" aria-current=${route.view === 'people' ? 'page' : null} onClick=${nav('people')}>People</a>`}
        <a href="/jobs" aria-current=${route.view === 'jobs' ? 'page' : null} onClick=${nav('jobs')}>Jobs</a>
      </nav>
      ${!disabled && html`<${UploadButton} />`}
      ${signedIn && html`<button type="button" class="link" onClick=${onSignOut}>Sign out</button>`}
    </div>
  </header>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
