// The import page at /dashboard/import: a Grafana dashboard JSON file,
// uploaded or pasted, is posted to /api/v1/dashboards; the server's error
// (which names the bad field) is shown as it is, and a stored dashboard
// opens at once.
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { navigate } from '../router.js';
import { useSession } from '../session.js';

export function ImportPage() {
  const session = useSession();
  const [text, setText] = useState('');
  const [overwrite, setOverwrite] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const onFile = (e) => {
    const f = e.currentTarget.files && e.currentTarget.files[0];
    if (!f) return;
    f.text().then((t) => { setText(t); setError(''); }, (err) => setError(`Could not read ${f.name}: ${err.message}`));
  };
  const submit = async (e) => {
    e.preventDefault();
    setError('');
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      setError(`This is not JSON: ${err.message}`);
      return;
    }
    // Grafana's API shape ({"dashboard": ..., "overwrite": ...}) or a bare
    // dashboard; the overwrite box decides either way.
    const dashboard = parsed && typeof parsed === 'object' && parsed.dashboard && typeof parsed.dashboard === 'object' ? parsed.dashboard : parsed;
    setBusy(true);
    try {
      const res = await post('/api/v1/dashboards', { dashboard, overwrite });
      navigate(`/d/${encodeURIComponent(res.uid)}`);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="page import-page">
      <div class="page-head"><h1>Import dashboard</h1></div>
      {!session.isAdmin && session.role && (
        <p class="alert-box">Importing needs the admin role; you are signed in as {session.role}.</p>
      )}
      <form onSubmit={submit} class="import-form">
        <p class="muted">A Grafana dashboard JSON file (the classic model, as Grafana exports it). Vigil stores it as it is, so it can be exported again and imported into Grafana.</p>
        <label class="file-label">Upload a file <input type="file" id="import-file" accept=".json,application/json" onChange={onFile} /></label>
        <label for="import-json">Or paste the JSON</label>
        <textarea class="input" id="import-json" rows={16} spellcheck={false} value={text}
          onInput={(e) => setText(e.currentTarget.value)} placeholder='{"title": "My dashboard", "panels": [...]}' />
        <label class="check"><input type="checkbox" id="import-overwrite" checked={overwrite} onChange={(e) => setOverwrite(e.currentTarget.checked)} />
          Replace a dashboard with the same uid</label>
        {error && <p class="alert-box error" role="alert" id="import-error">{error}</p>}
        <div><button type="submit" class="btn btn-primary" id="import-submit" disabled={busy || text.trim() === ''}>Import</button></div>
      </form>
    </section>
  );
}
