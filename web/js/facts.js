// facts.js -- turning the API's facts into what the page shows: chips from a
// result's `why`, a readable "what Scry understood", the boxes to draw over
// an image, and the generic rendering of fields this app does not know yet
// (new tag kinds, face attributes such as age or a person's name show up
// without a change here). Pure functions, tested by
// tests/browser/unit.test.mjs.

export const EMOTIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
export const COLORS = ['black', 'white', 'gray', 'red', 'orange', 'yellow', 'green', 'blue', 'purple',
  'pink', 'brown'];

// Split a result's `why` ("horse ×4 · words: horses · similar 0.87") into
// chips. A chip that names a fact the API can filter on carries that filter
// (label, emotion, has_text); labels are recognised from `labels`, the set
// the collection holds (GET /v1/facets); a person ("Anna (face 0.93)",
// "person 12 (face 0.81)") by `people`, a Map from a name, in lower case, to
// the person's id (GET /v1/people). Anything else is shown as it is.
export function whyChips(why, labels, people) {
  const out = [];
  for (const raw of (why || '').split(' · ')) {
    const part = raw.trim();
    if (!part) continue;
    let m;
    if ((m = /^similar (-?[0-9.]+)$/.exec(part))) {
      out.push({ text: 'similar ' + m[1], kind: 'score', filter: null });
    } else if ((m = /^words: (.+)$/.exec(part))) {
      out.push({ text: 'words: ' + m[1], kind: 'words', filter: null });
    } else if ((m = /^text '(.*)'$/.exec(part))) {
      out.push({ text: 'text: ' + m[1], kind: 'text', filter: { key: 'has_text', value: 'true' } });
    } else if ((m = /^(.+) \(face (-?[0-9.]+)\)$/.exec(part))) {
      const num = /^person ([0-9]+)$/.exec(m[1]);
      const id = num ? num[1] : people && people.get(m[1].toLowerCase());
      out.push({ text: part, kind: 'person', filter: id ? { key: 'person', value: String(id) } : null });
    } else if ((m = /^(\w+) face$/.exec(part)) && EMOTIONS.includes(m[1])) {
      out.push({ text: part, kind: 'emotion', filter: { key: 'emotion', value: m[1] } });
    } else {
      const label = labelOf(part, labels);
      if (label) out.push({ text: part, kind: 'label', filter: { key: 'label', value: label } });
      else out.push({ text: part, kind: 'fact', filter: null });
    }
  }
  return out;
}

// "red car ×2" -> "car" when car is a known label ("teddy bear" works too).
function labelOf(part, labels) {
  const m = /^(.*?)(?: ×(\d+))?$/.exec(part);
  let words = m[1].trim();
  if (labels && labels.has(words)) return words;
  const first = words.split(' ')[0];
  if (COLORS.includes(first)) words = words.slice(first.length + 1);
  return labels && labels.has(words) ? words : '';
}

function countText(o) {
  const { min, max, preferred } = o;
  if (max === 0) return 'no';
  if (max !== null && max !== undefined && min === max) return String(min);
  if (max !== null && max !== undefined) return min > 0 ? `${min}–${max}` : `at most ${max}`;
  if (preferred) return String(preferred);
  if (min > 1) return `${min}+`;
  return '';
}

// The parsed query (`understood`) as short phrases, one per constraint.
export function understoodChips(u) {
  if (!u || typeof u !== 'object') return [];
  const out = [];
  for (const o of u.objects || []) {
    const count = countText(o);
    const head = [count, o.color, o.emotion ? `${o.emotion}` : '', o.word].filter(Boolean).join(' ');
    const labels = (o.labels || []).filter((l) => l !== o.word);
    let text = head;
    if (labels.length) {
      const shown = labels.slice(0, 4).join(', ') + (labels.length > 4 ? ` +${labels.length - 4}` : '');
      text += ` (${shown})`;
    }
    out.push({ kind: 'object', text });
  }
  for (const l of u.excluded || []) out.push({ kind: 'negation', text: `without ${l}` });
  for (const p of u.people || []) out.push({ kind: 'person', text: personName(p) });
  for (const p of u.without_people || []) out.push({ kind: 'negation', text: `without ${personName(p)}` });
  if (u.face) out.push({ kind: 'person', text: `a face like face ${u.face}` });
  if (u.has_text === true) out.push({ kind: 'text', text: 'has text' });
  if (u.has_text === false) out.push({ kind: 'text', text: 'no text' });
  for (const t of u.texts || []) out.push({ kind: 'text', text: `text “${t}”` });
  for (const c of u.colors || []) out.push({ kind: 'color', text: `colour ${c}` });
  if (u.date && u.date.from) {
    const to = new Date(Date.parse(u.date.to) - 1000).toISOString().slice(0, 10);
    out.push({ kind: 'date', text: `taken ${u.date.from.slice(0, 10)} – ${to}` });
  }
  return out;
}

// Every fact of an image with a box, in the image's pixel coordinates
// (x, y, w, h of the oriented image, as the API gives them).
export function boxesOf(img) {
  const out = [];
  const ok = (b) => Array.isArray(b) && b.length === 4 && b.every((v) => typeof v === 'number');
  (img.tags || []).forEach((t, i) => {
    if (ok(t.box)) out.push({ id: `tag-${i}`, kind: 'object', box: t.box, label: t.label || t.name || 'object', score: t.score });
  });
  (img.faces || []).forEach((f, i) => {
    if (ok(f.box)) out.push({ id: `face-${i}`, kind: 'face', box: f.box, label: faceTitle(f, i), score: f.score });
  });
  (img.words || []).forEach((w, i) => {
    if (ok(w.box)) out.push({ id: `word-${i}`, kind: 'text', box: w.box, label: w.text || 'text', score: w.conf });
  });
  return out;
}

// A person as the API gives it ({id, name}): its name, or "person 12".
export function personName(p) {
  return p && p.name ? p.name : `person ${p && p.id}`;
}

export function faceTitle(f, i) {
  const who = f.person_name || (f.person_id ? `person ${f.person_id}` : '') ||
    (typeof f.person === 'string' ? f.person : '') || f.name;
  const bits = [who, f.emotion].filter(Boolean);
  return bits.length ? bits.join(' · ') : `face ${i + 1}`;
}

// The fields of a fact that this app has no special rendering for, as
// [key, text] pairs: how new facts (a face's age or gender, a person, a tag's
// kind) appear without a change to the app.
export function extraFields(obj, known) {
  const out = [];
  for (const [k, v] of Object.entries(obj || {})) {
    if (known.includes(k) || v === null || v === undefined || v === '') continue;
    out.push([k.replace(/_/g, ' '), fieldText(v)]);
  }
  return out;
}

function fieldText(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map(fieldText).join(', ');
  if (typeof v === 'object') {
    return Object.entries(v).map(([k, x]) => `${k} ${fieldText(x)}`).join(', ');
  }
  return String(v);
}

// The top entries of a {name: probability} object, best first.
export function topScores(scores, n) {
  return Object.entries(scores || {})
    .filter(([, v]) => typeof v === 'number')
    .sort((a, b) => b[1] - a[1])
    .slice(0, n);
}

export function formatBytes(n) {
  if (!(n >= 0)) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : String(n)) + ' ' + units[i];
}

export function formatPercent(p) {
  return typeof p === 'number' ? Math.round(p * 100) + '%' : '';
}

// "3 min ago" style, against now (ms).
export function relativeTime(iso, now) {
  const t = Date.parse(iso);
  if (!t) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toISOString().slice(0, 10);
}

export function formatGps(gps) {
  if (!gps || typeof gps.lat !== 'number' || typeof gps.lon !== 'number') return '';
  const f = (v, pos, neg) => `${Math.abs(v).toFixed(5)}° ${v >= 0 ? pos : neg}`;
  return `${f(gps.lat, 'N', 'S')}, ${f(gps.lon, 'E', 'W')}`;
}

// Whether a browser can show the original bytes (else the JPEG thumbnail).
export function browserShows(format) {
  return ['jpeg', 'png', 'gif', 'webp', 'bmp', 'avif'].includes(format);
}

// First bytes of a file -> whether it looks like an image the server takes
// (the same signatures as its sniffer), so that the upload sends likely
// refusals alone and the rest of a batch is never refused with them.
export function looksLikeImage(b) {
  const at = (i, ...v) => v.every((x, j) => b[i + j] === x);
  const ascii = (i, s) => [...s].every((c, j) => b[i + j] === c.charCodeAt(0));
  return (
    at(0, 0xff, 0xd8, 0xff) ||
    at(0, 0x89, 0x50, 0x4e, 0x47) ||
    ascii(0, 'GIF8') ||
    (ascii(0, 'RIFF') && ascii(8, 'WEBP')) ||
    at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a) ||
    ascii(4, 'ftyp') ||
    ascii(0, 'BM')
  );
}
