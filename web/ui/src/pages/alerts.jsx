// Placeholder until the Alerts page lands: the ui-pages work replaces this file.
export function AlertsPage() {
  return (
    <section class="page placeholder-page" data-placeholder="alerts">
      <h1>Alerts</h1>
      <p>The Alerts page (firing and pending alerts, their history and silencing them) is coming.</p>
    </section>
  );
}
