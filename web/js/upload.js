// upload.js -- uploads: files and folders dropped anywhere on the page or
// picked, sent to POST /v1/images with a progress bar per file, then the
// indexing job followed until each image is searchable, failed (with the
// stage and the reason), or refused (415 not an image, 413 too large).
//
// Batching: a request with several files is refused as a whole when one of
// them is not an image (the server stores nothing of a refused request), so
// files are grouped only when their first bytes look like an image (the
// server's own signatures, facts.js looksLikeImage); anything else, and any
// file over 32 MB, goes alone. A batch refused anyway is retried file by
// file, so that every refusal names its file and the rest goes on.
// Two requests run at once. Jobs are followed with one GET /v1/jobs per
// tick for all of them, and GET /v1/jobs/{id} once at the end for errors.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, upload } from './api.js';
import { html, collectionChanged, useInterval } from './ui.js';
import { formatBytes, looksLikeImage } from './facts.js';

const BATCH_FILES = 16;
const BATCH_BYTES = 48e6;
const ALONE_BYTES = 32e6;
const PARALLEL = 2;
const POLL_MS = 600;

let nextId = 1;
const entries = [];            // {id, file, name, size, state, progress, message, stage, imageId, jobId, image}
const subs = new Set();
let running = 0;
let pending = [];              // batches waiting: arrays of entries

function emit() { for (const fn of [...subs]) fn(); }
function set(e, changes) { Object.assign(e, changes); emit(); }

export function useUploads() {
  const [, force] = useState(0);
  useEffect(() => {
    const fn = () => force((n) => n + 1);
    subs.add(fn);
    return () => subs.delete(fn);
  }, []);
  return entries;
}

const visible = (name) => !name.startsWith('.');

// files: File objects, or {file, path} from a dropped folder.
export async function addFiles(files) {
  const fresh = [];
  for (const item of files) {
    const f = item instanceof File ? item : item.file;
    const shown = item instanceof File ? f.webkitRelativePath || f.name : item.path + f.name;
    if (!visible(f.name)) continue;
    const head = new Uint8Array(await f.slice(0, 32).arrayBuffer());
    fresh.push({ id: nextId++, file: f, name: shown, size: f.size, state: 'queued',
                 progress: 0, message: '', stage: '', imageId: '', jobId: '', image: looksLikeImage(head) });
  }
  if (!fresh.length) return;
  entries.push(...fresh);
  let batch = [], bytes = 0;
  const flush = () => { if (batch.length) pending.push(batch); batch = []; bytes = 0; };
  for (const e of fresh) {
    if (!e.image || e.size > ALONE_BYTES) { pending.push([e]); continue; }
    if (batch.length >= BATCH_FILES || bytes + e.size > BATCH_BYTES) flush();
    batch.push(e);
    bytes += e.size;
  }
  flush();
  emit();
  pump();
}

function pump() {
  while (running < PARALLEL && pending.length) {
    const batch = pending.shift();
    running++;
    send(batch).finally(() => { running--; pump(); });
  }
}

async function send(batch) {
  const total = batch.reduce((s, e) => s + e.size, 0) || 1;
  for (const e of batch) set(e, { state: 'uploading', progress: 0 });
  try {
    const doc = await upload(batch.map((e) => e.file), (loaded, sent) => {
      // The body is the files in order (plus small part headers): spread
      // the share sent over them.
      let left = (loaded / (sent || 1)) * total;
      for (const e of batch) {
        const p = e.size ? Math.min(1, Math.max(0, left / e.size)) : 1;
        left -= e.size;
        e.progress = p;
      }
      emit();
    });
    batch.forEach((e, i) => {
      const img = doc.images[i];
      set(e, { state: 'pending', progress: 1, jobId: doc.job_id, imageId: img ? img.id : '' });
    });
  } catch (err) {
    if (batch.length > 1 && (err.status === 415 || err.status === 413 || err.status === 400)) {
      // one of them spoiled the batch: send each alone
      for (const e of batch) { set(e, { state: 'queued', progress: 0 }); pending.unshift([e]); }
      return;
    }
    const refused = err.status === 415 || err.status === 413;
    for (const e of batch) {
      set(e, { state: refused ? 'refused' : 'failed', progress: 0,
               message: refused ? refusal(err) : err.message, stage: 'upload' });
    }
  }
}

function refusal(err) {
  return err.message;           // the server names the file and the reason
}

// Follow the jobs of uploaded files until each is finished.
async function poll() {
  const active = entries.filter((e) => e.state === 'pending' || e.state === 'running');
  if (!active.length) return;
  const jobIds = [...new Set(active.map((e) => e.jobId))];
  let listed = new Map();
  try {
    const doc = await get('/v1/jobs?limit=200');
    listed = new Map(doc.jobs.map((j) => [j.job_id, j]));
  } catch { return; }
  let finished = false;
  for (const jid of jobIds) {
    let job = listed.get(jid);
    if (!job) { try { job = await get(`/v1/jobs/${jid}`); } catch { continue; } }
    const mine = active.filter((e) => e.jobId === jid);
    if (job.status === 'pending' || job.status === 'running') {
      for (const e of mine) set(e, { state: job.status, message: job.status === 'running' ? `indexing ${job.done + job.failed}/${job.total}` : 'waiting to be indexed' });
      continue;
    }
    finished = true;
    let full = job;
    try { full = await get(`/v1/jobs/${jid}`); } catch { /* counts only */ }
    const errors = new Map((full.errors || []).map((x) => [x.image_id, x]));
    for (const e of mine) {
      const x = errors.get(e.imageId);
      if (!x) { set(e, { state: 'done', message: 'indexed' }); continue; }
      let status = 'failed';
      try { status = (await get(`/v1/images/${e.imageId}`)).status; } catch { /* deleted meanwhile */ }
      set(e, { state: status === 'ready' ? 'warning' : 'failed', stage: x.stage, message: x.message });
    }
  }
  if (finished) collectionChanged('indexed');
}

export function clearFinished() {
  for (let i = entries.length - 1; i >= 0; i--) {
    if (['done', 'failed', 'refused', 'warning'].includes(entries[i].state)) entries.splice(i, 1);
  }
  emit();
}

// ---- the page's parts -------------------------------------------------------

// Everything dropped anywhere on the window, folders walked (hidden files
// and folders left out, as `scry add` does).
export function DropZone() {
  const [over, setOver] = useState(false);
  const depth = useRef(0);
  useEffect(() => {
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    const enter = (e) => { if (!hasFiles(e)) return; e.preventDefault(); depth.current++; setOver(true); };
    const overFn = (e) => { if (hasFiles(e)) e.preventDefault(); };
    const leave = (e) => { if (!hasFiles(e)) return; if (--depth.current <= 0) { depth.current = 0; setOver(false); } };
    const drop = async (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth.current = 0;
      setOver(false);
      const items = [...(e.dataTransfer.items || [])];
      const roots = items.map((it) => it.webkitGetAsEntry && it.webkitGetAsEntry()).filter(Boolean);
      if (roots.length) addFiles(await walk(roots));
      else addFiles([...e.dataTransfer.files]);
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragover', overFn);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragover', overFn);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, []);
  if (!over) return null;
  return html`<div class="dropzone" aria-hidden="true"><div>Drop images or folders to upload</div></div>`;
}

async function walk(roots) {
  const out = [];
  const visit = async (entry, path) => {
    if (!visible(entry.name)) return;
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path });
      return;
    }
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) break;
      for (const child of batch) await visit(child, path + entry.name + '/');
    }
  };
  for (const r of roots) await visit(r, '');
  return out;
}

// The Upload button: files, or a whole folder.
export function UploadButton() {
  const files = useRef(null), folder = useRef(null);
  const pick = (e) => { addFiles([...e.currentTarget.files]); e.currentTarget.value = ''; };
  return html`<div class="upload-buttons">
    <button type="button" class="primary" onClick=${() => files.current.click()}>Upload</button>
    <button type="button" class="subtle" onClick=${() => folder.current.click()} title="Upload a whole folder">Folder…</button>
    <input ref=${files} type="file" multiple accept="image/*,.heic,.heif,.avif" class="hidden-input"
      aria-label="Upload images" data-testid="upload-input" onChange=${pick} />
    <input ref=${folder} type="file" webkitdirectory class="hidden-input" aria-label="Upload a folder" onChange=${pick} />
  </div>`;
}

const LABELS = {
  queued: 'queued', uploading: 'uploading', pending: 'waiting to be indexed', running: 'indexing',
  done: 'indexed', warning: 'indexed, with a problem', failed: 'failed', refused: 'refused',
};

export function UploadPanel({ openImage }) {
  const list = useUploads();
  const [open, setOpen] = useState(true);
  const active = list.some((e) => ['queued', 'uploading', 'pending', 'running'].includes(e.state));
  useInterval(poll, POLL_MS, active);
  const count = (s) => list.filter((e) => e.state === s).length;
  const problems = count('failed') + count('refused') + count('warning');
  // Everything indexed without a problem: fold the list away after a
  // moment, so that it does not cover the results; new uploads open it.
  useEffect(() => {
    if (active) { setOpen(true); return undefined; }
    if (problems) return undefined;
    const t = setTimeout(() => setOpen(false), 2500);
    return () => clearTimeout(t);
  }, [active, problems]);
  if (!list.length) return null;
  const done = count('done') + count('warning');
  const summary = [
    `${done} of ${list.length} indexed`,
    count('failed') && `${count('failed')} failed`,
    count('refused') && `${count('refused')} refused`,
  ].filter(Boolean).join(' · ');
  return html`<aside class="uploads" aria-label="Uploads">
    <div class="uploads-head">
      <button type="button" class="link" aria-expanded=${open ? 'true' : 'false'} onClick=${() => setOpen(!open)}>
        ${open ? '▾' : '▸'} Uploads</button>
      <span class="uploads-summary" role="status" aria-live="polite">${summary}</span>
      ${!active && html`<button type="button" class="link" onClick=${clearFinished}>clear</button>`}
    </div>
    ${open && html`<ul class="uploads-list">${list.map((e) => html`<li key=${e.id} class=${`up up-${e.state}`} data-name=${e.file.name} data-state=${e.state}>
      <span class="up-name" title=${e.name}>${e.state === 'done' || e.state === 'warning'
        ? html`<a href=${'?open=' + e.imageId} onClick=${(ev) => { ev.preventDefault(); openImage(e.imageId); }}>${e.name}</a>` : e.name}</span>
      <span class="up-size muted">${formatBytes(e.size)}</span>
      ${e.state === 'uploading' ? html`<progress max="1" value=${e.progress} aria-label=${`Uploading ${e.name}`}></progress>`
        : html`<span class="up-state">${LABELS[e.state]}</span>`}
      ${e.message && e.state !== 'done' && html`<span class="up-msg">${e.stage && e.stage !== 'upload' ? html`<b>${e.stage}</b>: ` : ''}${e.message}</span>`}
    </li>`)}</ul>`}
  </aside>`;
}
