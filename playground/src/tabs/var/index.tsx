/** The var tab (being built; see issue 12). */
export function VarTab() {
  return <p class="muted">Var</p>;
}
