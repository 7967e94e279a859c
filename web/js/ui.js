// ui.js -- the small shared pieces: the html`` template tag (htm bound to
// Preact's h), chips, thumbnails, error boxes, a confirmation dialog, and a
// few hooks. Components are functions of their props; state lives in the
// views that own it.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { thumbUrl } from './api.js';

export const html = htm.bind(h);

// An event bus for "the collection changed" (an upload finished indexing,
// images were deleted), so the views that show images refetch.
const listeners = new Set();
export function onCollectionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
export function collectionChanged(what) {
  for (const fn of [...listeners]) fn(what);
}

export function Chip({ text, kind, active, onToggle, title }) {
  const cls = `chip chip-${kind || 'fact'}${active ? ' active' : ''}`;
  if (!onToggle) return html`<span class=${cls} title=${title || null}>${text}</span>`;
  return html`<button type="button" class=${cls} aria-pressed=${active ? 'true' : 'false'}
    title=${title || (active ? `Remove the filter “${text}”` : `Only images with “${text}”`)}
    onClick=${(e) => { e.stopPropagation(); onToggle(); }}>${text}</button>`;
}

// A lazily loaded thumbnail in a fixed box (no layout shift while loading);
// an image still being indexed, or failed, shows its state instead.
export function Thumb({ id, alt, status }) {
  const [broken, setBroken] = useState(false);
  if (status === 'failed') return html`<div class="thumb thumb-none"><span>failed</span></div>`;
  if (broken || status === 'pending') {
    return html`<div class="thumb thumb-none"><span>${status === 'pending' ? 'indexing…' : 'no preview'}</span></div>`;
  }
  return html`<div class="thumb"><img src=${thumbUrl(id)} alt=${alt} loading="lazy" decoding="async"
    onError=${() => setBroken(true)} /></div>`;
}

export function ErrorBox({ error, onRetry }) {
  if (!error) return null;
  return html`<div class="error" role="alert">
    <strong>${error.status ? `Error ${error.status}` : 'Error'}${error.code ? ` (${error.code})` : ''}:</strong>
    ${' '}${error.message}
    ${onRetry && html` <button type="button" class="link" onClick=${onRetry}>Try again</button>`}
  </div>`;
}

export function StatusBadge({ status }) {
  if (!status) return null;
  return html`<span class=${`badge badge-${status}`}>${status}</span>`;
}

// A modal confirmation (native <dialog>: focus trap, Esc, inert page).
export function Confirm({ title, children, confirmText, danger, onConfirm, onCancel, busy }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => { if (d && d.open) d.close(); };
  }, []);
  return html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-title"
      onCancel=${(e) => { e.preventDefault(); if (!busy) onCancel(); }}>
    <h2 id="confirm-title">${title}</h2>
    <div class="confirm-body">${children}</div>
    <div class="confirm-actions">
      <button type="button" onClick=${onCancel} disabled=${busy}>Cancel</button>
      <button type="button" class=${danger ? 'danger' : 'primary'} onClick=${onConfirm} disabled=${busy}
        autofocus>${confirmText || 'OK'}</button>
    </div>
  </dialog>`;
}

export function useInterval(fn, ms, active) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [ms, active]);
}

// The element's content width, kept up to date (ResizeObserver).
export function useWidth(ref) {
  const [w, setW] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return undefined;
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    setW(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  return w;
}
