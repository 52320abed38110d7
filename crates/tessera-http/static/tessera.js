// Progressive enhancement only: every page works without this file.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  // An input's value, or a snippet's text (a <pre>).
  const text = "value" in input ? input.value : input.textContent;
  if (input.select) input.select();
  navigator.clipboard?.writeText(text).then(() => {
    button.textContent = "Copied";
  }, () => {
    document.execCommand("copy");
    button.textContent = "Copied";
  });
});
