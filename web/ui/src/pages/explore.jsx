// Placeholder until the Explore page lands: the ui-pages work replaces this file.
export function ExplorePage() {
  return (
    <section class="page placeholder-page" data-placeholder="explore">
      <h1>Explore</h1>
      <p>The Explore page (the PromQL editor with metric and label completion, graph, table and raw JSON) is coming.</p>
    </section>
  );
}
