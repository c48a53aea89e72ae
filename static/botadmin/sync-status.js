// Live progress of a contact sync on the bot page: while a sync is pending or
// running, ask the server for the sync block every 2 seconds and swap it in.
// Any block with data-live-url and data-active="1" (a bot's live connection) is
// refreshed the same way for as long as the server answers active.
(function () {
  function poll(box) {
    if (box.dataset.active !== "1") return;
    setTimeout(function () {
      fetch(box.dataset.syncStatusUrl || box.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (status) {
          if (status) {
            box.innerHTML = status.html;
            box.dataset.active = status.active ? "1" : "0";
          }
          poll(box);
        })
        .catch(function () { poll(box); });
    }, 2000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-sync-status-url], [data-live-url]").forEach(poll);
  });
})();
