// The UI's pages by path. The server (web/ui.go) serves index.html at the
// same paths; a path added here must be added there too.
import { DashboardList } from './dashboard/list.jsx';
import { DashboardPage } from './dashboard/page.jsx';
import { ImportPage } from './dashboard/import.jsx';
import { ExplorePage } from './pages/explore.jsx';
import { AlertsPage } from './pages/alerts.jsx';
import { SilencesPage } from './pages/silences.jsx';
import { TargetsPage } from './pages/targets.jsx';
import { RulesPage } from './pages/rules.jsx';
import { StatusPage } from './pages/status.jsx';

/**
 * routes: path patterns (":name" matches one segment) to page components.
 * nav names the entry of the nav bar the page belongs to. A page receives
 * { params, query } (query: URLSearchParams).
 */
export const routes = [
  { path: '/', component: DashboardList, nav: 'dashboards', title: 'Dashboards' },
  { path: '/dashboard/import', component: ImportPage, nav: 'dashboards', title: 'Import dashboard' },
  { path: '/d/:uid', component: DashboardPage, nav: 'dashboards', title: 'Dashboard' },
  { path: '/d/:uid/:slug', component: DashboardPage, nav: 'dashboards', title: 'Dashboard' },
  { path: '/explore', component: ExplorePage, nav: 'explore', title: 'Explore' },
  { path: '/alerts', component: AlertsPage, nav: 'alerts', title: 'Alerts' },
  { path: '/silences', component: SilencesPage, nav: 'silences', title: 'Silences' },
  { path: '/targets', component: TargetsPage, nav: 'targets', title: 'Targets' },
  { path: '/rules', component: RulesPage, nav: 'rules', title: 'Rules' },
  { path: '/status', component: StatusPage, nav: 'status', title: 'Status' },
];

/** The nav bar, in order. */
export const navItems = [
  { id: 'dashboards', label: 'Dashboards', href: '/' },
  { id: 'explore', label: 'Explore', href: '/explore' },
  { id: 'alerts', label: 'Alerts', href: '/alerts' },
  { id: 'silences', label: 'Silences', href: '/silences' },
  { id: 'targets', label: 'Targets', href: '/targets' },
  { id: 'rules', label: 'Rules', href: '/rules' },
  { id: 'status', label: 'Status', href: '/status' },
];

/** matchRoute finds the route of pathname: { route, params }, or null. */
export function matchRoute(pathname) {
  const parts = pathname.split('/').filter(Boolean);
  for (const route of routes) {
    const pat = route.path.split('/').filter(Boolean);
    if (pat.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < pat.length && ok; i++) {
      if (pat[i].startsWith(':')) params[pat[i].slice(1)] = decodeURIComponent(parts[i]);
      else ok = pat[i] === parts[i];
    }
    if (ok) return { route, params };
  }
  return null;
}
