// Behaviour every Workarea screen may use, without inline script (the Content-Security-Policy
// allows scripts only from our static files):
// - a form with data-confirm asks that question before it is sent;
// - a checkbox with data-select-all ticks or clears every checkbox in its table's body.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!box.matches || !box.matches("input[type=checkbox][data-select-all]")) return;
  box.closest("table").querySelectorAll("tbody input[type=checkbox]")
    .forEach((other) => { other.checked = box.checked; });
});
