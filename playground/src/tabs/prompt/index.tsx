/** The prompt tab (being built; see issue 12). */
export function PromptTab() {
  return <p class="muted">Prompt</p>;
}
