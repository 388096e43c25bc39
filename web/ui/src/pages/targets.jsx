// Placeholder until the Targets page lands: the ui-pages work replaces this file.
export function TargetsPage() {
  return (
    <section class="page placeholder-page" data-placeholder="targets">
      <h1>Targets</h1>
      <p>The Targets page (the scrape targets and their health) is coming.</p>
    </section>
  );
}
