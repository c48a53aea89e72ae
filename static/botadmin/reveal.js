// Masked secrets (console pages and the admin's bot page): "Reveal" posts to the
// server for one secret (CSRF-protected, audited) and shows it in place of the
// masked value; the same button then copies it (copy.js, data-copy).
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-reveal-url]");
  if (!button) return;
  event.preventDefault();
  const token = document.querySelector("[name=csrfmiddlewaretoken]").value;
  fetch(button.dataset.revealUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": token, Accept: "application/json" },
  })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (answer) {
      if (!answer) return;
      const box = button.closest(".secret");
      box.querySelector(".secret-value").textContent = answer.value;
      button.dataset.copy = answer.value;
      button.textContent = button.dataset.copyLabel || "⧉";
      delete button.dataset.revealUrl;
    });
});
