// people.js -- the People page: faces grouped by person (GET /v1/people),
// named inline, merged by dragging one person onto another or by selecting
// several, and one person's faces (/people?person=ID) where a wrong face is
// taken out or moved. Every change goes through the people routes of the
// REST API (docs/people.md) and is followed by collectionChanged('people'),
// so the search page's person filter and chips refetch the names.
//
// A person that clustering has not settled yet is listed by the server only
// once it has --people-min-faces faces or a name; the page shows what the
// server lists and says how many faces that takes.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, del, get, request } from './api.js';
import { html, Confirm, ErrorBox, collectionChanged, onCollectionChange, useInterval } from './ui.js';
import { routeUrl } from './url.js';
import { personName } from './facts.js';

const LIMIT = 500;
export const faceThumbUrl = (id) => `/v1/faces/${encodeURIComponent(id)}/thumbnail`;
const patch = (path, body) => request('PATCH', path, { body });
const post = (path, body) => request('POST', path, { body });

// The people the server lists, for the search page too (filter, chips):
// null while unknown, false when recognition is off (--people 0, or an
// older server without the routes).
export async function listPeople() {
  try {
    return await get(`/v1/people?limit=${LIMIT}`);
  } catch (e) {
    if (e.status === 403 || e.status === 404) return false;
    throw e;
  }
}

export function PeopleView({ route, navigate, setList }) {
  if (route.person) return html`<${PersonPage} id=${route.person} navigate=${navigate} setList=${setList} />`;
  return html`<${PeopleGrid} navigate=${navigate} setList=${setList} />`;
}

function PeopleGrid({ navigate, setList }) {
  const [doc, setDoc] = useState(null);
  const [error, setError] = useState(null);
  const [selected, setSelected] = useState(() => new Set());
  const [merge, setMerge] = useState(null);        // {into, from: [ids]}
  const [busy, setBusy] = useState(false);
  const [job, setJob] = useState(null);            // the re-cluster job, while it runs
  const load = () => listPeople().then((d) => { setDoc(d); setError(null); }, setError);
  useEffect(() => { load(); setList([]); }, []);
  useEffect(() => onCollectionChange(load), []);
  useInterval(async () => {
    try {
      const j = await get(`/v1/jobs/${job.job_id}`);
      if (j.status !== 'pending' && j.status !== 'running') { setJob(null); collectionChanged('people'); }
    } catch (e) { setJob(null); setError(e); }
  }, 1000, !!job);

  if (doc === false) {
    return html`<section class="people"><div class="empty"><h2>People are off</h2>
      <p>This server runs with face recognition turned off (<code>--people 0</code>).</p></div></section>`;
  }
  const people = (doc && doc.people) || [];
  const toggle = (id) => setSelected((s) => { const n = new Set(s); if (n.has(id)) n.delete(id); else n.add(id); return n; });
  const askMerge = (ids, target) => {
    // Into the person dropped on, else the one with a name, else the one
    // with most faces (the list is sorted by faces: the first selected in
    // list order); a named person is never merged into an unnamed one.
    const chosen = people.filter((p) => ids.includes(p.id));
    const dropped = chosen.find((p) => p.id === target);
    const into = (dropped && (dropped.name || !chosen.some((p) => p.name)) && dropped) ||
      chosen.find((p) => p.name) || chosen[0];
    setMerge({ into, from: chosen.filter((p) => p.id !== into.id) });
  };
  const doMerge = async () => {
    setBusy(true);
    try {
      await post(`/v1/people/${merge.into.id}/merge`, { from: merge.from.map((p) => p.id) });
      setSelected(new Set());
      setMerge(null);
      collectionChanged('people');
    } catch (e) { setError(e); setMerge(null); }
    setBusy(false);
  };
  const recluster = async () => {
    try { setJob(await post('/v1/people/recluster', {})); } catch (e) { setError(e); }
  };

  return html`<section class="people" aria-label="People">
    <div class="toolbar"><h1>People</h1>
      <span class="muted">${doc ? `${doc.total} ${doc.total === 1 ? 'person' : 'people'}` : ''}</span>
      ${selected.size >= 2 && html`<button type="button" class="primary" onClick=${() => askMerge([...selected])}>Merge ${selected.size}</button>`}
      ${selected.size > 0 && html`<button type="button" class="link" onClick=${() => setSelected(new Set())}>clear selection</button>`}
      <button type="button" class="link" disabled=${!!job} onClick=${recluster}
        title="Group every face again (names and your corrections are kept)">${job ? 'grouping faces…' : 're-group faces'}</button>
    </div>
    <${ErrorBox} error=${error} onRetry=${load} />
    ${doc && !people.length && html`<div class="empty"><h2>No people yet</h2>
      <p>A person appears once ${doc.min_faces} photos show the same face. Upload photos of people, or name a face
        in an image's details.</p></div>`}
    ${people.length > 0 && html`<p class="muted hint">Type a name under a face to name that person. Drag a person onto
      another, or select several, to merge them.</p>`}
    <ul class="grid people-grid">
      ${people.map((p) => html`<${PersonCard} key=${p.id} p=${p} selected=${selected.has(p.id)}
        onSelect=${() => toggle(p.id)} onError=${setError}
        onDropPerson=${(fromId) => fromId !== p.id && askMerge([p.id, fromId], p.id)}
        onOpen=${() => navigate({ view: 'people', person: String(p.id) })} />`)}
    </ul>
    ${merge && html`<${Confirm} title="Merge people?" confirmText="Merge" busy=${busy}
        onConfirm=${doMerge} onCancel=${() => setMerge(null)}>
      <p>${`The faces of ${merge.from.map(personName).join(', ')} become ${personName(merge.into)}'s.`}</p>
    <//>`}
  </section>`;
}

function PersonCard({ p, selected, onSelect, onOpen, onDropPerson, onError }) {
  const [over, setOver] = useState(false);
  const href = routeUrl({ view: 'people', person: String(p.id) });
  return html`<li class=${`card person${selected ? ' selected' : ''}${over ? ' drop' : ''}`} data-person=${p.id}
      draggable="true"
      onDragStart=${(e) => { e.dataTransfer.setData('application/x-scry-person', String(p.id)); e.dataTransfer.effectAllowed = 'move'; }}
      onDragOver=${(e) => { if (e.dataTransfer.types.includes('application/x-scry-person')) { e.preventDefault(); setOver(true); } }}
      onDragLeave=${() => setOver(false)}
      onDrop=${(e) => { e.preventDefault(); setOver(false); const id = Number(e.dataTransfer.getData('application/x-scry-person')); if (id) onDropPerson(id); }}>
    <a class="card-link" href=${href} onClick=${(e) => { if (e.button === 0 && !e.metaKey && !e.ctrlKey) { e.preventDefault(); onOpen(); } }}>
      <div class="thumb face-thumb">${p.cover_face && html`<img src=${faceThumbUrl(p.cover_face)}
        alt=${p.name ? `${p.name}'s face` : 'a face of an unnamed person'} loading="lazy" decoding="async" />`}</div>
    </a>
    <div class="person-meta">
      <label class="sel"><input type="checkbox" checked=${selected} onChange=${onSelect}
        aria-label=${`select ${personName(p)}`} /></label>
      <${NameInput} p=${p} onError=${onError} />
    </div>
    <span class="card-name muted">${p.images} ${p.images === 1 ? 'photo' : 'photos'} · ${p.faces} ${p.faces === 1 ? 'face' : 'faces'}</span>
  </li>`;
}

// The person's name, edited in place: saved on Enter or when the field
// loses the focus; Esc puts the old name back. A name another person has
// is refused by the server (409 name_taken): merge them instead.
function NameInput({ p, onError }) {
  const [text, setText] = useState(p.name || '');
  const [state, setState] = useState('');          // '', 'saving', 'saved', 'error'
  const input = useRef(null);
  useEffect(() => { setText(p.name || ''); }, [p.name]);
  const save = async () => {
    const name = text.trim();
    if (name === (p.name || '')) return;
    setState('saving');
    try {
      await patch(`/v1/people/${p.id}`, { name: name || null });
      setState('saved');
      collectionChanged('people');
    } catch (e) {
      setState('error');
      onError(e instanceof ApiError && e.code === 'name_taken'
        ? new ApiError(e.status, e.code, `${e.message} To make them one person, merge them.`) : e);
    }
  };
  return html`<input ref=${input} class=${`person-name ${state}`} type="text" value=${text} maxlength="100"
    placeholder="Add a name" aria-label=${`name of ${personName(p)}`}
    onInput=${(e) => { setText(e.currentTarget.value); setState(''); }}
    onKeyDown=${(e) => {
      if (e.key === 'Enter') { e.preventDefault(); input.current.blur(); }
      if (e.key === 'Escape') { e.preventDefault(); setText(p.name || ''); setState(''); }
    }}
    onBlur=${save} />`;
}

function PersonPage({ id, navigate, setList }) {
  const [person, setPerson] = useState(null);
  const [faces, setFaces] = useState(null);
  const [others, setOthers] = useState([]);
  const [error, setError] = useState(null);
  const [forget, setForget] = useState(false);
  const load = async () => {
    try {
      const [p, f, all] = await Promise.all([get(`/v1/people/${id}`), get(`/v1/people/${id}/faces?limit=${LIMIT}`), listPeople()]);
      setPerson(p);
      setFaces(f.faces);
      setList([...new Set(f.faces.map((x) => x.image_id))]);
      setOthers(all ? all.people.filter((x) => String(x.id) !== String(id)) : []);
      setError(null);
    } catch (e) { setError(e); }
  };
  useEffect(() => { load(); }, [id]);
  useEffect(() => onCollectionChange(load), [id]);
  const move = async (faceId, to) => {
    try {
      await patch(`/v1/faces/${faceId}`, { person: to });
      collectionChanged('people');
    } catch (e) { setError(e); }
  };
  const doForget = async () => {
    try {
      await del(`/v1/people/${id}`);
      setForget(false);
      collectionChanged('people');
      navigate({ view: 'people', person: '' });
    } catch (e) { setForget(false); setError(e); }
  };
  const back = html`<a href="/people" onClick=${(e) => { e.preventDefault(); navigate({ view: 'people', person: '' }); }}>← People</a>`;
  if (error && error.status === 404) {
    return html`<section class="people">${back}<div class="empty"><h2>No such person</h2>
      <p>It was merged into another or forgotten.</p></div></section>`;
  }
  return html`<section class="people person-page" aria-label="Person">
    <div class="toolbar">${back}
      ${person && html`<h1>${personName(person)}</h1>
        <span class="muted">${person.images} ${person.images === 1 ? 'photo' : 'photos'}</span>
        <${NameInput} p=${person} onError=${setError} />
        <a href=${routeUrl({ view: 'search', q: '', person: String(person.id) })}
          onClick=${(e) => { e.preventDefault(); navigate({ view: 'search', q: '', person: String(person.id), label: '', emotion: '', has_text: '', from: '', to: '', sort: '', similar: '', open: '' }); }}>
          Show the photos</a>
        <button type="button" class="link danger" onClick=${() => setForget(true)}>Forget this person</button>`}
    </div>
    <${ErrorBox} error=${error} onRetry=${load} />
    ${faces && html`<ul class="grid faces-grid">${faces.map((f) => html`<li class="card face" key=${f.id} data-face=${f.id}>
      <a class="card-link" href=${routeUrl({ view: 'people', person: id, open: f.image_id })}
         onClick=${(e) => { e.preventDefault(); navigate({ view: 'people', person: id, open: f.image_id }); }}>
        <div class="thumb face-thumb"><img src=${faceThumbUrl(f.id)} alt=${`face ${f.id}`} loading="lazy" decoding="async" /></div>
      </a>
      <div class="face-actions">
        <button type="button" class="link" onClick=${() => move(f.id, null)} title="This face is someone else">Not ${personName(person || { id })}</button>
        <select aria-label=${`move face ${f.id} to`} value="" onChange=${(e) => {
          const v = e.currentTarget.value;
          if (v) move(f.id, v === 'new' ? 'new' : Number(v));
        }}>
          <option value="">move to…</option>
          <option value="new">a new person</option>
          ${others.map((o) => html`<option value=${o.id}>${personName(o)}</option>`)}
        </select>
      </div>
    </li>`)}</ul>`}
    ${forget && html`<${Confirm} title=${`Forget ${personName(person)}?`} confirmText="Forget" danger
        onConfirm=${doForget} onCancel=${() => setForget(false)}>
      <p>The person and the name are forgotten. The photos and their faces stay.</p>
    <//>`}
  </section>`;
}
