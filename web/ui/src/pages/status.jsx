// Placeholder until the Status page lands: the ui-pages work replaces this file.
export function StatusPage() {
  return (
    <section class="page placeholder-page" data-placeholder="status">
      <h1>Status</h1>
      <p>The Status page (build info, configuration, flags and the TSDB cardinality explorer) is coming.</p>
    </section>
  );
}
