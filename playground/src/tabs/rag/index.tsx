/** The rag tab (being built; see issue 12). */
export function RagTab() {
  return <p class="muted">Rag</p>;
}
