// View All Synchronization Configurations: while any profile row is queued or running, poll
// the rows' state and update them in place (status icon and text, Last Full Sync, and the Sync
// button, which opens the progress screen while the run goes on), without reloading the page.
(function () {
  const screen = document.getElementById("configurations");
  if (!screen) return;
  const active = (status) => status === "running" || status === "queued";
  const anyActive = () => [...screen.querySelectorAll("tr[data-profile]")]
    .some((row) => active(row.dataset.status)) ||
    [...screen.querySelectorAll("section[data-relationship]")].some((b) => b.dataset.running);

  function update(row, state) {
    row.dataset.status = state.status;
    row.dataset.run = state.run_id;
    const result = row.querySelector("td.result");
    result.textContent = "";
    if (state.status) {
      const icon = document.createElement("span");
      icon.className = `status ${state.status}`;
      icon.setAttribute("role", "img");
      icon.title = state.icon_text;
      icon.setAttribute("aria-label", state.icon_text);
      icon.textContent = state.icon;
      const text = document.createElement("span");
      text.className = "status-text";
      text.textContent = state.status_label;
      result.append(icon, " ", text);
    }
    row.querySelector("td.last-full").textContent = state.last_full;
    const actions = row.querySelector("td.actions");
    if (state.status && !actions.querySelector(".log-icon")) {
      const log = document.createElement("a");
      log.className = "log-icon";
      log.href = `${screen.dataset.base}profiles/${state.id}/log/`;
      log.title = log.ariaLabel = "Log of this profile's last sync";
      log.innerHTML = screen.dataset.logIcon; // the server's own SVG markup, no user data
      actions.prepend(log, " ");
    }
    const link = row.querySelector(".progress-link");
    link.href = state.run_url;
    link.hidden = !state.running;
    row.querySelector(".sync-now").hidden = state.running;
  }

  async function poll() {
    try {
      const response = await fetch(screen.dataset.state, { credentials: "same-origin" });
      if (response.ok) {
        const { profiles, relationships } = await response.json();
        for (const state of relationships) {
          const block = document.getElementById(`relationship-${state.id}`);
          if (!block) continue;
          const link = document.getElementById(`progress-${state.id}`);
          link.hidden = !state.running;
          if (state.running) { link.href = state.run_url; link.textContent = state.label; }
          const start = block.querySelector("form.initial-sync");
          if (start) start.hidden = state.running || state.staged;
          block.dataset.running = state.running ? "1" : "";
        }
        for (const state of profiles) {
          const row = document.getElementById(`profile-${state.id}`);
          if (row && (row.dataset.status !== state.status ||
                      row.dataset.run !== String(state.run_id))) update(row, state);
          else if (row) row.querySelector("td.last-full").textContent = state.last_full;
        }
      }
    } finally {
      setTimeout(poll, anyActive() ? 1000 : 5000);
    }
  }
  setTimeout(poll, anyActive() ? 1000 : 5000);
})();
