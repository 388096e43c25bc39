// The dashboard view at /d/:uid (in progress: the panels render next).
export function DashboardPage({ params }) {
  return (
    <section class="page">
      <h1>Dashboard {params.uid}</h1>
      <p class="muted">Dashboard rendering is coming.</p>
    </section>
  );
}
