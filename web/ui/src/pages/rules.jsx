// Placeholder until the Rules page lands: the ui-pages work replaces this file.
export function RulesPage() {
  return (
    <section class="page placeholder-page" data-placeholder="rules">
      <h1>Rules</h1>
      <p>The Rules page (the recording and alerting rules) is coming.</p>
    </section>
  );
}
