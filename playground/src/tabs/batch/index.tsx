/** The batch tab (being built; see issue 12). */
export function BatchTab() {
  return <p class="muted">Batch</p>;
}
