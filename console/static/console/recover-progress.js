// The endpoint page's "N of M queued so far" of a "Forward the messages it missed" run,
// fetched again every few seconds until it says done (console/views/webhook_recovery.py).
(function () {
  "use strict";
  var EVERY_MS = 2000;

  function poll() {
    var shown = document.getElementById("recover-progress");
    if (!shown || !shown.dataset.pollUrl) return;
    fetch(shown.dataset.pollUrl, { credentials: "same-origin" })
      .then(function (answer) {
        return answer.status === 200 ? answer.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          var template = document.createElement("template");
          template.innerHTML = html.trim();
          var fresh = template.content.firstElementChild;
          if (fresh && fresh.id === "recover-progress") shown.replaceWith(fresh);
        }
        window.setTimeout(poll, EVERY_MS);
      })
      .catch(function () {
        window.setTimeout(poll, EVERY_MS * 5); // offline or restarting: try again later
      });
  }

  window.setTimeout(poll, EVERY_MS);
})();
