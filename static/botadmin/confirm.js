// Confirmation before an action: <form data-confirm="Question?">. Delegated, so
// forms loaded later (a trace opened in the timeline) are covered too.
//
// Asked only in some cases: data-confirm-when="selector" asks when a field of the
// form matches it (`[name=grace_hours][value="0"]:checked`). A matching number
// field with data-fewer-than="N" must also hold fewer than N ("" for none: any
// number is fewer); empty, it means its data-empty-means ("" for none).
//
// Answered on the server too: data-confirmed-field="name" sets the form's field of
// that name to "confirmed" once the question is answered yes, so the server, which
// asks a post without it itself, knows it was asked (conversations/secret_grace.py).
(function () {
  function fewer(field) {
    const typed = field.value.trim();
    const value = typed === "" ? field.dataset.emptyMeans || "" : typed;
    if (value === "" || Number.isNaN(Number(value))) return false;
    const limit = field.dataset.fewerThan;
    return limit === "" || Number(value) < Number(limit);
  }

  function asks(form) {
    const when = form.dataset.confirmWhen;
    if (!when) return true;
    return Array.from(form.querySelectorAll(when)).some(
      (field) => !("fewerThan" in field.dataset) || fewer(field)
    );
  }

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (!form || !asks(form)) return;
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    const answered = form.dataset.confirmedField && form.elements[form.dataset.confirmedField];
    if (answered) answered.value = "confirmed";
  }, true);
})();
