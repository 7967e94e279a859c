// library.js -- every image, newest first, at any size of collection: a
// virtual grid (only the rows on screen, plus a margin, are in the DOM) over
// pages of GET /v1/images fetched as they scroll into view. 100k images are
// a tall empty box with ~60 cards in it. Multi-select (click, Shift-click
// for a range) and bulk delete.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { del, get } from './api.js';
import { html, Confirm, ErrorBox, Thumb, collectionChanged, onCollectionChange, useWidth } from './ui.js';
import { routeUrl } from './url.js';
import { resultsArrived } from './perf.js';

const PAGE = 100;
const MIN_CARD = 150;
const GAP = 12;
const META_H = 28;
const OVERSCAN = 3;

export function LibraryView({ route, setList, openImage }) {
  const [total, setTotal] = useState(null);
  const [pages, setPages] = useState(() => new Map());   // page index -> images
  const [error, setError] = useState(null);
  const [gen, setGen] = useState(0);                     // bumps to drop every page
  const [selected, setSelected] = useState(() => new Set());
  const [anchor, setAnchor] = useState(-1);
  const [confirm, setConfirm] = useState(false);
  const [deleting, setDeleting] = useState(null);        // {done, total, failed}
  const loading = useRef(new Set());
  const pendingDone = useRef(null);       // perf.js: the first page's render
  useLayoutEffect(() => {
    if (pendingDone.current && pages.size) { pendingDone.current(pages.get(0) ? pages.get(0).length : 0); pendingDone.current = null; }
  }, [pages]);
  const box = useRef(null);
  const width = useWidth(box);
  const [scroll, setScroll] = useState({ top: 0, height: window.innerHeight });

  useEffect(() => onCollectionChange(() => setGen((g) => g + 1)), []);
  useEffect(() => {
    setPages(new Map());
    loading.current = new Set();
    fetchPage(0, true);
  }, [gen]);

  async function fetchPage(p, first) {
    if (loading.current.has(p)) return;
    loading.current.add(p);
    const t0 = performance.now();
    try {
      const doc = await get(`/v1/images?limit=${PAGE}&offset=${p * PAGE}`);
      if (first) pendingDone.current = resultsArrived('library', performance.now() - t0);
      setTotal(doc.total);
      setPages((m) => new Map(m).set(p, doc.images));
      setError(null);
    } catch (e) {
      loading.current.delete(p);
      setError(e);
    }
  }

  useEffect(() => {
    const on = () => setScroll({ top: window.scrollY, height: window.innerHeight });
    window.addEventListener('scroll', on, { passive: true });
    window.addEventListener('resize', on);
    return () => { window.removeEventListener('scroll', on); window.removeEventListener('resize', on); };
  }, []);

  const cols = Math.max(1, Math.floor((width + GAP) / (MIN_CARD + GAP)));
  const card = width ? (width - GAP * (cols - 1)) / cols : MIN_CARD;
  const rowH = card + META_H + GAP;
  const n = total || 0;
  const rows = Math.ceil(n / cols);
  const boxTop = box.current ? box.current.getBoundingClientRect().top + window.scrollY : 0;
  const firstRow = Math.max(0, Math.floor((scroll.top - boxTop) / rowH) - OVERSCAN);
  const lastRow = Math.min(rows - 1, Math.ceil((scroll.top - boxTop + scroll.height) / rowH) + OVERSCAN);
  const from = firstRow * cols, to = Math.min(n, (lastRow + 1) * cols);

  useEffect(() => {
    for (let p = Math.floor(from / PAGE); p <= Math.floor(Math.max(from, to - 1) / PAGE); p++) {
      if (!pages.has(p) && n > 0) fetchPage(p, false);
    }
  }, [from, to, n, gen]);

  const at = (i) => { const pg = pages.get(Math.floor(i / PAGE)); return pg ? pg[i % PAGE] : null; };
  const loadedIds = useMemo(() => {
    const ids = [];
    for (const k of [...pages.keys()].sort((a, b) => a - b)) for (const img of pages.get(k)) ids.push(img.id);
    return ids;
  }, [pages]);
  useEffect(() => { setList(loadedIds); }, [loadedIds]);

  function toggle(i, img, shift) {
    const s = new Set(selected);
    if (shift && anchor >= 0) {
      const [a, b] = anchor < i ? [anchor, i] : [i, anchor];
      for (let k = a; k <= b; k++) { const x = at(k); if (x) s.add(x.id); }
    } else if (s.has(img.id)) s.delete(img.id);
    else s.add(img.id);
    setAnchor(i);
    setSelected(s);
  }

  async function deleteSelected() {
    const ids = [...selected];
    const st = { done: 0, total: ids.length, failed: [] };
    setDeleting({ ...st });
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        try { await del(`/v1/images/${encodeURIComponent(id)}`); } catch (e) { if (e.status !== 404) st.failed.push(e); }
        st.done++;
        setDeleting({ ...st });
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    setConfirm(false);
    setDeleting(null);
    setSelected(new Set());
    if (st.failed.length) setError(st.failed[0]);
    collectionChanged('deleted');
  }

  const cards = [];
  for (let i = from; i < to; i++) {
    const img = at(i);
    const x = (i % cols) * (card + GAP), y = Math.floor(i / cols) * rowH;
    const style = { transform: `translate(${x}px, ${y}px)`, width: `${card}px` };
    if (!img) { cards.push(html`<li key=${'p' + i} class="vcard placeholder" style=${style} aria-hidden="true"><div class="thumb"></div></li>`); continue; }
    const on = selected.has(img.id);
    cards.push(html`<li key=${img.id} class=${`vcard${on ? ' selected' : ''}`} style=${style} data-id=${img.id} data-filename=${img.filename}>
      <a class="card-link" href=${routeUrl({ ...route, open: img.id })} title=${img.caption || img.filename}
        onClick=${(e) => {
          if (e.button !== 0 || e.metaKey || e.ctrlKey) return;
          e.preventDefault();
          if (e.shiftKey || selected.size) toggle(i, img, e.shiftKey); else openImage(img.id);
        }}>
        <${Thumb} id=${img.id} alt=${img.caption || img.filename} status=${img.status} />
        <span class="card-name">${img.filename}</span>
      </a>
      <label class="pick" title="Select (Shift-click selects a range)">
        <input type="checkbox" checked=${on} aria-label=${`Select ${img.filename}`}
          onClick=${(e) => { e.stopPropagation(); e.preventDefault(); toggle(i, img, e.shiftKey); }} />
      </label>
    </li>`);
  }

  return html`<section class="library" aria-label="Library">
    <div class="toolbar">
      <h1>Library</h1>
      <span class="muted">${total === null ? '' : `${total.toLocaleString()} image${total === 1 ? '' : 's'}, newest first`}</span>
      ${selected.size > 0 && html`<span class="selection" role="status">
        <strong>${selected.size} selected</strong>
        <button type="button" class="link" onClick=${() => setSelected(new Set())}>clear</button>
        <button type="button" class="danger" onClick=${() => setConfirm(true)}>Delete ${selected.size}</button>
      </span>`}
      ${selected.size === 0 && n > 0 && html`<span class="muted hint">Click a checkbox to select; Shift-click for a range.</span>`}
    </div>
    <${ErrorBox} error=${error} onRetry=${() => setGen((g) => g + 1)} />
    ${total === 0 && html`<div class="empty"><h2>No images yet</h2><p>Drop photos or folders anywhere on this page, or use <strong>Upload</strong>.</p></div>`}
    <ul ref=${box} class="vgrid" style=${{ height: `${rows * rowH}px` }}>${cards}</ul>
    ${confirm && html`<${Confirm} title=${`Delete ${selected.size} image${selected.size === 1 ? '' : 's'}?`} danger
        confirmText=${deleting ? `Deleting ${deleting.done}/${deleting.total}…` : 'Delete'} busy=${!!deleting}
        onCancel=${() => setConfirm(false)} onConfirm=${deleteSelected}>
      <p>The originals, thumbnails and every fact about them are removed. This cannot be undone.</p>
    <//>`}
  </section>`;
}
