// Confirmation before an action: <form data-confirm="Question?">. Delegated, so
// forms loaded later (a trace opened in the timeline) are covered too.
document.addEventListener("submit", function (event) {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);
