// The setup checklist on a bot's page (console/bots/_setup_checklist.html): while a step
// is not done, its status is asked again every 10 s (only while the page is visible) and
// replaced in place; the values (a revealed secret among them) stay as they are.
(function () {
  const panel = document.getElementById("setup-checklist");
  if (!panel) return;
  const pending = function () {
    return panel.querySelector('[data-step-status][data-state="todo"], [data-step-status][data-state="failed"]');
  };
  const refresh = function () {
    if (document.visibilityState !== "visible" || !pending()) return;
    fetch(panel.dataset.liveUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        const fresh = new DOMParser().parseFromString(html, "text/html");
        fresh.querySelectorAll("[data-step-status]").forEach(function (status) {
          const old = panel.querySelector('[data-step-status="' + status.dataset.stepStatus + '"]');
          if (old) old.replaceWith(document.importNode(status, true));
        });
      })
      .catch(function () {});
  };
  setInterval(refresh, 10000);
})();
