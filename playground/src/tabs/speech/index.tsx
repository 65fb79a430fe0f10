/** The speech tab (being built; see issue 12). */
export function SpeechTab() {
  return <p class="muted">Speech</p>;
}
