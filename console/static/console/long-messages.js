// Long messages in the timeline (console/history/_bubble.html). A text or markdown
// message the server marks `data-collapsible` shows its first 12 lines (.collapsed in
// app.css) and a "Show all" button when it is taller than that; without this script the
// whole text shows and the button stays hidden. A collapsed message opens by itself when
// it is the one the page was opened at (a search hit, .msg.focus) and when something
// scrolls its hidden part into view (the keyboard reaching a link there, the browser's
// find in page). One the operator opened stays open when the poll redraws it.
(function () {
  var opened = new Set();  // ids of the messages opened on this page

  function toggleOf(content) {
    return document.querySelector('.show-all-toggle[aria-controls="' + content.id + '"]');
  }

  function show(content, collapsed) {
    var button = toggleOf(content);
    var message = content.closest(".msg");
    content.classList.toggle("collapsed", collapsed);
    content.scrollTop = 0;
    button.setAttribute("aria-expanded", String(!collapsed));
    button.textContent = collapsed ? button.dataset.more : button.dataset.less;
    if (collapsed) opened.delete(message.id); else opened.add(message.id);
  }

  // Collapse the new long messages, all first and then measured, so that the page is laid
  // out once: one that fits in 12 lines anyway stays as it is, without a button.
  function collapseNew() {
    var fresh = Array.from(document.querySelectorAll("[data-collapsible]:not([data-measured])"));
    fresh.forEach(function (content) { content.classList.add("collapsed"); });
    var taller = fresh.filter(function (content) {
      content.dataset.measured = "";
      return content.scrollHeight > content.clientHeight + 1 && toggleOf(content);
    });
    fresh.forEach(function (content) {
      if (taller.indexOf(content) < 0) content.classList.remove("collapsed");
    });
    taller.forEach(function (content) {
      var message = content.closest(".msg");
      toggleOf(content).hidden = false;
      show(content, !(message.classList.contains("focus") || opened.has(message.id)));
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".show-all-toggle");
    if (!button) return;
    var content = document.getElementById(button.getAttribute("aria-controls"));
    var collapsing = !content.classList.contains("collapsed");
    show(content, collapsing);
    if (collapsing) button.scrollIntoView({block: "nearest"});
  });
  // A collapsed text scrolls only when the browser brings something hidden into view.
  document.addEventListener("scroll", function (event) {
    var content = event.target;
    if (content.classList && content.classList.contains("collapsed") && content.scrollTop > 0) {
      var top = content.scrollTop;
      show(content, false);
      // What was scrolled to stays where it was shown.
      var timeline = content.closest(".timeline");
      if (timeline) timeline.scrollTop += top;
    }
  }, true);
  document.body.addEventListener("htmx:afterSwap", collapseNew);
  collapseNew();
})();
