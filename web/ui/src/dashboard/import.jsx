// The dashboard import page at /dashboard/import (in progress).
export function ImportPage() {
  return (
    <section class="page">
      <h1>Import dashboard</h1>
      <p class="muted">Importing Grafana dashboard JSON is coming.</p>
    </section>
  );
}
