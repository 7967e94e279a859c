// detail.js -- one image, over whichever page is open (?open=ID): the large
// image with a box per located fact (objects, faces, text lines), labelled,
// linked to the fact lists by hover and focus; every fact the API has,
// rendered generically where this app has no special view for it; download,
// delete, "more like this"; ← → walk the page's list, Esc closes.
import { useEffect, useRef, useState } from 'preact/hooks';
import { contentUrl, del, get, thumbUrl } from './api.js';
import { html, Confirm, ErrorBox, StatusBadge, Thumb, collectionChanged } from './ui.js';
import {
  boxesOf, browserShows, extraFields, faceTitle, formatBytes, formatGps, formatPercent, relativeTime, topScores,
} from './facts.js';

export function Detail({ id, list, onClose, onGo, onSimilar, onPerson }) {
  const [img, setImg] = useState(null);
  const [error, setError] = useState(null);
  const [hot, setHot] = useState('');
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [layers, setLayers] = useState({ object: true, face: true, text: true });
  const dialog = useRef(null);
  const idx = list.indexOf(id);
  const prev = idx > 0 ? list[idx - 1] : null;
  const next = idx >= 0 && idx < list.length - 1 ? list[idx + 1] : null;

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    return () => { if (d && d.open) d.close(); };
  }, []);

  useEffect(() => {
    const ctl = new AbortController();
    setError(null);
    setHot('');
    get(`/v1/images/${encodeURIComponent(id)}`, { signal: ctl.signal })
      .then((doc) => setImg(doc), (e) => { if (e.name !== 'AbortError') { setImg(null); setError(e); } });
    return () => ctl.abort();
  }, [id]);

  useEffect(() => {
    const onKey = (e) => {
      if (confirm || e.target.closest('input, select, textarea')) return;
      if (e.key === 'ArrowRight' && next) { e.preventDefault(); onGo(next); }
      if (e.key === 'ArrowLeft' && prev) { e.preventDefault(); onGo(prev); }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [prev, next, confirm]);

  async function remove() {
    setBusy(true);
    try {
      await del(`/v1/images/${encodeURIComponent(id)}`);
      setConfirm(false);
      collectionChanged('deleted');
      if (next) onGo(next, true); else if (prev) onGo(prev, true); else onClose();
    } catch (e) {
      setError(e);
      setConfirm(false);
    } finally {
      setBusy(false);
    }
  }

  const boxes = img ? boxesOf(img).filter((b) => layers[b.kind]) : [];
  return html`<dialog ref=${dialog} class="detail" aria-label=${img ? img.filename : 'Image'}
      onCancel=${(e) => { e.preventDefault(); if (!confirm) onClose(); }}>
    <div class="detail-bar">
      <button type="button" class="icon" onClick=${() => prev && onGo(prev)} disabled=${!prev} aria-label="Previous image (←)" title="Previous (←)">←</button>
      <button type="button" class="icon" onClick=${() => next && onGo(next)} disabled=${!next} aria-label="Next image (→)" title="Next (→)">→</button>
      <span class="detail-pos muted">${idx >= 0 ? `${idx + 1} of ${list.length}` : ''}</span>
      <h2 class="detail-title">${img ? img.filename : '…'} ${img && img.status !== 'ready' && html`<${StatusBadge} status=${img.status} />`}</h2>
      <button type="button" class="icon close" onClick=${onClose} aria-label="Close (Esc)" title="Close (Esc)">✕</button>
    </div>
    <${ErrorBox} error=${error} />
    ${img && html`<div class="detail-body">
      <${Stage} img=${img} boxes=${boxes} hot=${hot} setHot=${setHot} />
      <aside class="facts" aria-label="What Scry knows about this image">
        ${img.caption && html`<p class="caption">${img.caption}</p>`}
        <div class="actions">
          <a class="button" href=${contentUrl(img.id)} download=${img.filename}>Download original</a>
          <button type="button" onClick=${() => onSimilar(img.id)} disabled=${img.status !== 'ready'}>More like this</button>
          <button type="button" class="danger" onClick=${() => setConfirm(true)}>Delete…</button>
        </div>
        <${Layers} img=${img} layers=${layers} setLayers=${setLayers} />
        <${Objects} img=${img} hot=${hot} setHot=${setHot} />
        <${Faces} img=${img} hot=${hot} setHot=${setHot} onPerson=${onPerson} />
        <${TextFacts} img=${img} hot=${hot} setHot=${setHot} />
        <${Colors} img=${img} />
        <${FileFacts} img=${img} />
        <${Similar} img=${img} onGo=${onGo} onSimilar=${onSimilar} />
      </aside>
    </div>`}
    ${confirm && html`<${Confirm} title=${`Delete ${img ? img.filename : 'this image'}?`} danger confirmText="Delete"
        busy=${busy} onCancel=${() => setConfirm(false)} onConfirm=${remove}>
      <p>The original, its thumbnail and every fact about it are removed. This cannot be undone.</p>
    <//>`}
  </dialog>`;
}

// The image at the largest size that fits, with the boxes over it in
// percentages of the image (so they follow any size).
function Stage({ img, boxes, hot, setHot }) {
  const wrap = useRef(null);
  const [size, setSize] = useState(null);
  const W = img.width || 1, H = img.height || 1;
  useEffect(() => {
    const el = wrap.current;
    const fit = () => {
      const s = Math.min(el.clientWidth / W, el.clientHeight / H);
      setSize({ w: Math.floor(W * s), h: Math.floor(H * s) });
    };
    const ro = new ResizeObserver(fit);
    ro.observe(el);
    fit();
    return () => ro.disconnect();
  }, [W, H]);
  const src = browserShows(img.format) ? contentUrl(img.id) : thumbUrl(img.id);
  if (img.status === 'failed' || !img.width) {
    return html`<div class="stage-wrap" ref=${wrap}><${Thumb} id=${img.id} alt=${img.filename} status=${img.status} /></div>`;
  }
  return html`<div class="stage-wrap" ref=${wrap}>
    <div class="stage" style=${size ? { width: `${size.w}px`, height: `${size.h}px` } : { visibility: 'hidden' }}>
      <img src=${src} alt=${img.caption || img.filename} width=${W} height=${H} />
      ${boxes.map((b) => html`<div key=${b.id} class=${`box box-${b.kind}${hot === b.id ? ' hot' : ''}`} data-fact=${b.id}
          data-label=${b.label} tabindex="0" aria-label=${`${b.kind}: ${b.label}`}
          style=${{ left: `${(b.box[0] / W) * 100}%`, top: `${(b.box[1] / H) * 100}%`,
                    width: `${(b.box[2] / W) * 100}%`, height: `${(b.box[3] / H) * 100}%` }}
          onMouseEnter=${() => setHot(b.id)} onMouseLeave=${() => setHot('')}
          onFocus=${() => setHot(b.id)} onBlur=${() => setHot('')}>
        <span class="box-label">${b.label}${typeof b.score === 'number' && b.kind !== 'text' ? ` ${formatPercent(b.score)}` : ''}</span>
      </div>`)}
    </div>
  </div>`;
}

function Layers({ img, layers, setLayers }) {
  const all = boxesOf(img);
  const kinds = [['object', 'objects'], ['face', 'faces'], ['text', 'text']].filter(([k]) => all.some((b) => b.kind === k));
  if (!kinds.length) return null;
  return html`<fieldset class="layers"><legend>Boxes</legend>
    ${kinds.map(([k, name]) => html`<label><input type="checkbox" checked=${layers[k]}
      onChange=${(e) => setLayers({ ...layers, [k]: e.currentTarget.checked })} /> ${name}</label>`)}
  </fieldset>`;
}

function FactRow({ id, hot, setHot, children }) {
  return html`<li class=${hot === id ? 'hot' : ''} data-fact=${id}
    onMouseEnter=${() => setHot(id)} onMouseLeave=${() => setHot('')}>${children}</li>`;
}

function Extras({ obj, known }) {
  const ex = extraFields(obj, known);
  if (!ex.length) return null;
  return html`<span class="extras">${ex.map(([k, v]) => html`<span class="extra"><span class="k">${k}</span> ${v}</span>`)}</span>`;
}

function Objects({ img, hot, setHot }) {
  const tags = img.tags || [];
  if (!tags.length) return null;
  const located = tags.map((t, i) => ({ t, i })).filter(({ t }) => Array.isArray(t.box));
  const whole = tags.map((t, i) => ({ t, i })).filter(({ t }) => !Array.isArray(t.box));
  const row = ({ t, i }) => html`<${FactRow} id=${`tag-${i}`} hot=${hot} setHot=${setHot}>
    ${t.color && html`<span class=${`swatch named-${t.color}`} title=${t.color}></span>`}
    <span class="fact-name">${t.label || t.name || t.concept || 'tag'}</span>
    ${typeof t.score === 'number' && html`<meter min="0" max="1" value=${t.score} title=${formatPercent(t.score)}></meter><span class="pct">${formatPercent(t.score)}</span>`}
    <${Extras} obj=${t} known=${['label', 'name', 'score', 'box', 'color']} />
  <//>`;
  return html`<section class="factgroup">
    ${located.length > 0 && html`<h3>Objects <span class="muted">${located.length}</span></h3><ul class="factlist">${located.map(row)}</ul>`}
    ${whole.length > 0 && html`<h3>Tags <span class="muted">${whole.length}</span></h3><ul class="factlist">${whole.map(row)}</ul>`}
  </section>`;
}

function Faces({ img, hot, setHot, onPerson }) {
  const faces = img.faces || [];
  if (!faces.length) return null;
  return html`<section class="factgroup"><h3>Faces <span class="muted">${faces.length}</span></h3>
    <ul class="factlist">${faces.map((f, i) => html`<${FactRow} id=${`face-${i}`} hot=${hot} setHot=${setHot}>
      <span class="fact-name">${faceTitle(f, i)}</span>
      ${f.person_id && onPerson && html`<a class="person-link" href=${`/people?person=${f.person_id}`}
        onClick=${(e) => { e.preventDefault(); onPerson(f.person_id); }}>${f.person_name ? `${f.person_name}'s faces` : 'this person'}</a>`}
      ${typeof f.score === 'number' && html`<span class="pct" title="detection score">${formatPercent(f.score)}</span>`}
      ${f.scores && html`<span class="scores">${topScores(f.scores, 3).map(([k, v]) =>
        html`<span class="extra"><span class="k">${k}</span> ${formatPercent(v)}</span>`)}</span>`}
      <${Extras} obj=${f} known=${['box', 'emotion', 'scores', 'score', 'person', 'name', 'person_id', 'person_name', 'face_id']} />
    <//>`)}</ul></section>`;
}

function TextFacts({ img, hot, setHot }) {
  const words = img.words || [];
  if (!img.text && !words.length) return null;
  return html`<section class="factgroup"><h3>Text</h3>
    ${img.text && html`<blockquote class="ocr">${img.text}</blockquote>`}
    ${words.length > 0 && html`<ul class="factlist words">${words.map((w, i) => html`<${FactRow} id=${`word-${i}`} hot=${hot} setHot=${setHot}>
      <span class="fact-name">${w.text}</span>${typeof w.conf === 'number' && html`<span class="pct">${formatPercent(w.conf)}</span>`}
      <${Extras} obj=${w} known=${['text', 'box', 'conf']} />
    <//>`)}</ul>`}
  </section>`;
}

function Colors({ img }) {
  const colors = img.colors || [];
  if (!colors.length) return null;
  return html`<section class="factgroup"><h3>Colours</h3>
    <ul class="colors">${colors.map((c) => html`<li>
      <span class="swatch" style=${/^#[0-9a-f]{6}$/i.test(c.hex || '') ? { background: c.hex } : null}></span>
      ${c.name} <span class="muted">${formatPercent(c.fraction)}</span></li>`)}</ul></section>`;
}

function FileFacts({ img }) {
  const ex = img.exif || {};
  const rows = [
    ['Taken', ex.date_taken ? ex.date_taken.replace('T', ' ') : ''],
    ['Camera', ex.camera || ''],
    ['Location', formatGps(ex.gps)],
    ...extraFields(ex, ['date_taken', 'camera', 'gps']).map(([k, v]) => [k, v]),
    ['Size', img.width ? `${img.width} × ${img.height} px` : ''],
    ['Format', img.format ? img.format.toUpperCase() : ''],
    ['File', formatBytes(img.bytes)],
    ['Added', img.created_at ? `${img.created_at.replace('T', ' ').replace('Z', ' UTC')} (${relativeTime(img.created_at, Date.now())})` : ''],
    ['SHA-256', img.sha256],
    ['pHash', img.phash || ''],
  ].filter(([, v]) => v);
  return html`<section class="factgroup"><h3>File</h3>
    <dl class="kv">${rows.map(([k, v]) => html`<dt>${k}</dt><dd class=${k === 'SHA-256' ? 'mono' : ''}>${v}</dd>`)}</dl>
  </section>`;
}

function Similar({ img, onGo, onSimilar }) {
  const [res, setRes] = useState(null);
  useEffect(() => {
    setRes(null);
    if (img.status !== 'ready') return undefined;
    const ctl = new AbortController();
    get(`/v1/images/${encodeURIComponent(img.id)}/similar?limit=8`, { signal: ctl.signal })
      .then((d) => setRes(d.results), (e) => { if (e.name !== 'AbortError') setRes([]); });
    return () => ctl.abort();
  }, [img.id]);
  if (!res || !res.length) return null;
  return html`<section class="factgroup"><h3>More like this</h3>
    <ul class="strip">${res.map((r) => html`<li><a href=${'?open=' + r.id} title=${`${r.filename}: ${r.why}`}
      onClick=${(e) => { e.preventDefault(); onGo(r.id); }}><${Thumb} id=${r.id} alt=${r.caption || r.filename} /></a></li>`)}</ul>
    <button type="button" class="link" onClick=${() => onSimilar(img.id)}>Show all as results</button>
  </section>`;
}
