// Progressive enhancement only: every page works without this file.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  input.select();
  navigator.clipboard?.writeText(input.value).then(() => {
    button.textContent = "Copied";
  }, () => {
    document.execCommand("copy");
    button.textContent = "Copied";
  });
});
