// signin.js -- the sign-in form, shown only when the server has API keys
// (GET /v1/session says auth: true) and this browser is not signed in, or
// when any call answered 401. The key is sent once (POST /v1/session); the
// server answers with an HttpOnly session cookie and a CSRF cookie.
import { useState } from 'preact/hooks';
import { signIn } from './api.js';
import { html } from './ui.js';

export function SignIn({ onSignedIn, reason }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await signIn(key.trim());
      setKey('');
      onSignedIn();
    } catch (err) {
      setError(err.status === 401 || err.status === 403 ? 'That key was not accepted.' : err.message);
    } finally {
      setBusy(false);
    }
  }
  return html`<div class="signin-wrap">
    <form class="signin" onSubmit=${submit} aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in to Scry</h1>
      <p class="muted">${reason || 'This server asks for an API key.'}</p>
      <label for="signin-key">API key</label>
      <input id="signin-key" name="key" type="password" autocomplete="current-password" required autofocus
        value=${key} onInput=${(e) => setKey(e.currentTarget.value)} />
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="submit" class="primary" disabled=${busy || !key.trim()}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
  </div>`;
}
