// jobs.js -- recent jobs (GET /v1/jobs) with their status and counts; a job
// opens to its per-image errors (GET /v1/jobs/{id}). Refreshed every 2 s
// while some job is still pending or running.
import { useEffect, useState } from 'preact/hooks';
import { get } from './api.js';
import { html, ErrorBox, StatusBadge, useInterval } from './ui.js';
import { relativeTime } from './facts.js';

export function JobsView({ openImage }) {
  const [jobs, setJobs] = useState(null);
  const [error, setError] = useState(null);
  const [openJob, setOpenJob] = useState('');
  const load = () => get('/v1/jobs?limit=100').then((d) => { setJobs(d.jobs); setError(null); }, setError);
  useEffect(() => { load(); }, []);
  const active = !!jobs && jobs.some((j) => j.status === 'pending' || j.status === 'running');
  useInterval(load, 2000, active);
  return html`<section class="jobs" aria-label="Jobs">
    <div class="toolbar"><h1>Jobs</h1><span class="muted">${active ? 'updating every 2 s' : ''}</span>
      <button type="button" class="link" onClick=${load}>refresh</button></div>
    <${ErrorBox} error=${error} onRetry=${load} />
    ${jobs && !jobs.length && html`<div class="empty"><h2>No jobs yet</h2><p>Every upload makes a job that indexes its images.</p></div>`}
    ${jobs && jobs.length > 0 && html`<table class="jobtable">
      <thead><tr><th scope="col">Job</th><th scope="col">Status</th><th scope="col">Images</th>
        <th scope="col">Indexed</th><th scope="col">Failed</th><th scope="col">Created</th></tr></thead>
      <tbody>${jobs.map((j) => html`<${JobRow} key=${j.job_id} j=${j} open=${openJob === j.job_id}
        toggle=${() => setOpenJob(openJob === j.job_id ? '' : j.job_id)} openImage=${openImage} />`)}</tbody>
    </table>`}
  </section>`;
}

function JobRow({ j, open, toggle, openImage }) {
  const [full, setFull] = useState(null);
  useEffect(() => {
    if (!open) return;
    get(`/v1/jobs/${j.job_id}`).then(setFull, () => setFull({ errors: [] }));
  }, [open, j.status, j.done, j.failed]);
  const pct = j.total ? Math.round(((j.done + j.failed) / j.total) * 100) : 100;
  return html`<tr class=${`job job-${j.status}`} data-job=${j.job_id}>
      <td><button type="button" class="link mono" aria-expanded=${open ? 'true' : 'false'} onClick=${toggle}>${j.job_id.slice(-8)}</button></td>
      <td><${StatusBadge} status=${j.status} />${(j.status === 'running' || j.status === 'pending') && html` <progress max="100" value=${pct} aria-label="progress"></progress>`}</td>
      <td>${j.total}</td><td>${j.done}</td><td class=${j.failed ? 'bad' : ''}>${j.failed}</td>
      <td title=${j.created_at}>${relativeTime(j.created_at, Date.now())}</td>
    </tr>
    ${open && html`<tr class="job-errors"><td colspan="6">
      ${j.error && html`<p class="bad">${j.error}</p>`}
      ${!full ? 'Loading…' : !full.errors.length ? html`<span class="muted">No errors.</span>` : html`<ul>
        ${full.errors.map((e) => html`<li><a href=${'?open=' + e.image_id} onClick=${(ev) => { ev.preventDefault(); openImage(e.image_id); }}>${e.filename || e.image_id}</a>
          — <b>${e.stage}</b>: ${e.message}</li>`)}</ul>`}
    </td></tr>`}`;
}
