/** The settings tab (being built; see issue 12). */
export function SettingsTab() {
  return <p class="muted">Settings</p>;
}
