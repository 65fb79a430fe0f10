/** The messages tab (being built; see issue 12). */
export function MessagesTab() {
  return <p class="muted">Messages</p>;
}
