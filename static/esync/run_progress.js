// Poll a run's state and show it until it ends.
(function () {
  const box = document.getElementById("run");
  if (!box) return;
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  async function poll() {
    const response = await fetch(box.dataset.poll, { credentials: "same-origin" });
    if (!response.ok) { setTimeout(poll, 3000); return; }
    const s = await response.json();
    show("run-status", s.status);
    show("run-phase", s.phase);
    show("run-done", s.done.toLocaleString());
    show("run-total", s.total.toLocaleString());
    show("run-bytes", (s.bytes / 1048576).toFixed(1));
    show("run-elapsed", s.elapsed_seconds.toFixed(0));
    show("run-remaining", s.remaining_seconds ? `· about ${Math.round(s.remaining_seconds)} s left` : "");
    show("run-message", s.message);
    const bar = document.getElementById("run-bar");
    bar.max = Math.max(s.total, 1); bar.value = s.done;
    if (!s.finished) setTimeout(poll, 1000);
  }
  poll();
})();
