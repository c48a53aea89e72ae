// The conversation page (console/history/page.html): the timeline's scrolling and
// polling, broken thumbnails, and the reply box's byte count. Loaded at the end of the
// body, after long-messages.js and before the deferred htmx.
function pendingIds() {
  return Array.from(document.querySelectorAll("#timeline [data-pending]")).map(function (el) { return el.dataset.pending; }).join(",");
}
// The poller's request names the messages still in delivery (whose bubbles the answer
// redraws when they change): added here, as htmx's `js:` values would need eval.
document.body.addEventListener("htmx:configRequest", function (event) {
  if (event.detail.elt.id === "poller") event.detail.parameters.pending = pendingIds();
});
// A thumbnail that fails to load becomes a neutral placeholder, not a broken-image icon.
function replaceBroken(img) {
  var box = document.createElement("span");
  box.className = "thumb-missing " + img.className;
  box.title = img.alt || "";
  box.setAttribute("aria-hidden", "true");
  img.replaceWith(box);
}
document.addEventListener("error", function (event) {
  if (event.target.matches && event.target.matches("img[data-fallback]")) replaceBroken(event.target);
}, true);
document.querySelectorAll("img[data-fallback]").forEach(function (img) {
  if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) replaceBroken(img);
});
(function () {
  var timeline = document.getElementById("timeline");
  var focus = timeline.dataset.focus && document.getElementById("m" + timeline.dataset.focus);
  // The message opened at (a search hit) in the middle, or its start when it is taller.
  if (focus) { focus.scrollIntoView({block: focus.offsetHeight > timeline.clientHeight ? "start" : "center"}); }
  else { timeline.scrollTop = timeline.scrollHeight; }
  var stick = true;
  timeline.addEventListener("scroll", function () {
    stick = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 80;
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.classList.contains("trace-body")) { event.detail.target.scrollIntoView({block: "nearest"}); }
  });
  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "poller" && stick) { timeline.scrollTop = timeline.scrollHeight; }
  });
  var box = document.getElementById("id_content");
  // Count down in the connector's unit (UTF-8 bytes) and refuse visibly past it.
  var count = document.getElementById("reply-count"), encoder = new TextEncoder();
  var send = box.form.querySelector("button[type=submit]");
  function recount() {
    var left = Number(box.dataset.maxBytes) - encoder.encode(box.value).length;
    count.textContent = left >= 0 ? left + " " + count.dataset.left : (-left) + " " + count.dataset.over;
    count.classList.toggle("error-text", left < 0);
    send.disabled = left < 0;
    box.setCustomValidity(left < 0 ? count.textContent : "");
  }
  box.addEventListener("input", recount);
  recount();
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); box.form.requestSubmit(); }
  });
})();
