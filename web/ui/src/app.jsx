// The shell: nav bar, the signed-in user with a logout button, the theme
// toggle, and the page of the current path (routes.js).
import { useEffect, useState } from 'preact/hooks';
import { get, csrfToken } from './api.js';
import { interceptLinks, useLocation } from './router.js';
import { matchRoute, navItems } from './routes.js';
import { SessionContext } from './session.js';
import { currentTheme, setTheme } from './theme.js';

interceptLinks((path) => matchRoute(path) !== null);

export function App() {
  const { path, query } = useLocation();
  const [session, setSession] = useState(null);
  const [sessionError, setSessionError] = useState('');
  useEffect(() => {
    get('/api/v1/session')
      .then((s) => setSession({ ...s, isAdmin: s.role === 'admin' }))
      .catch((err) => setSessionError(err.message));
  }, []);

  const m = matchRoute(path);
  useEffect(() => {
    document.title = m ? `${m.route.title} · Vigil` : 'Not found · Vigil';
  }, [m && m.route]);

  const Page = m && m.route.component;
  return (
    <SessionContext.Provider value={session || { user: '', role: '', authEnabled: true, isAdmin: false }}>
      <header class="topbar">
        <a class="brand" href="/" aria-label="Vigil: dashboards">
          <img src="/assets/favicon.svg" alt="" width="22" height="22" />
          <span>Vigil</span>
        </a>
        <nav class="mainnav" aria-label="Main">
          {navItems.map((n) => (
            <a key={n.id} href={n.href} class={m && m.route.nav === n.id ? 'active' : ''}
              aria-current={m && m.route.nav === n.id ? 'page' : undefined}>{n.label}</a>
          ))}
        </nav>
        <div class="topbar-right">
          <ThemeToggle />
          <UserMenu session={session} error={sessionError} />
        </div>
      </header>
      <main class="content">
        {Page ? <Page key={m.route.path} params={m.params} query={query} /> : <NotFound path={path} />}
      </main>
    </SessionContext.Provider>
  );
}

function ThemeToggle() {
  const [theme, setThemeState] = useState(currentTheme);
  const next = theme === 'dark' ? 'light' : 'dark';
  return (
    <button type="button" class="btn btn-icon" id="theme-toggle" title={`Switch to the ${next} theme`}
      aria-label={`Switch to the ${next} theme`}
      onClick={() => { setTheme(next); setThemeState(next); }}>
      {theme === 'dark' ? '☀' : '☾'}
    </button>
  );
}

function UserMenu({ session, error }) {
  if (error) return <span class="user error-text" title={error}>session unknown</span>;
  if (!session) return null;
  if (!session.authEnabled) return <span class="user" title="Authentication is off (--auth=none)">no login</span>;
  return (
    <span class="user">
      <span id="user-name" title={`role: ${session.role}`}>{session.user}</span>
      {session.method === 'session' && (
        <form method="post" action="/logout" class="logout">
          <input type="hidden" name="csrf_token" value={csrfToken()} />
          <button type="submit" class="btn btn-link" id="logout">Log out</button>
        </form>
      )}
    </span>
  );
}

function NotFound({ path }) {
  return (
    <section class="page">
      <h1>Not found</h1>
      <p>Vigil has no page at <code>{path}</code>. <a href="/">Go to the dashboards.</a></p>
    </section>
  );
}
