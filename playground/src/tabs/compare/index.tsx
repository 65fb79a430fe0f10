/** The compare tab (being built; see issue 12). */
export function CompareTab() {
  return <p class="muted">Compare</p>;
}
