// Insert a library image at the cursor of the content's HTML field.
document.addEventListener("click", (event) => {
  const button = event.target.closest(".insert-image");
  if (!button) return;
  const field = document.getElementById("id_html");
  const alt = button.dataset.alt.replace(/"/g, "&quot;");
  const tag = `<img src="${button.dataset.src}" alt="${alt}">`;
  const start = field.selectionStart ?? field.value.length;
  const end = field.selectionEnd ?? start;
  field.value = field.value.slice(0, start) + tag + field.value.slice(end);
  field.focus();
  field.selectionStart = field.selectionEnd = start + tag.length;
});
