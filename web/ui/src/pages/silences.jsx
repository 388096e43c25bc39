// Placeholder until the Silences page lands: the ui-pages work replaces this file.
export function SilencesPage() {
  return (
    <section class="page placeholder-page" data-placeholder="silences">
      <h1>Silences</h1>
      <p>The Silences page (creating and expiring silences) is coming.</p>
    </section>
  );
}
