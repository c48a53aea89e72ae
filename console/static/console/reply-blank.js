// The reply box refuses a reply of only spaces and line breaks before it is posted, as
// the server would (trimmed, it is empty): the browser's `required` lets spaces through.
// Listening on the form runs after the box's own input listeners (the byte countdown,
// which clears the box's custom validity), whatever order the scripts load in.
(function () {
  var box = document.getElementById("id_content");
  if (!box || !box.dataset.blank) return;
  function check() {
    var blank = box.value.length > 0 && box.value.trim() === "";
    if (blank) box.setCustomValidity(box.dataset.blank);
    else if (box.validationMessage === box.dataset.blank) box.setCustomValidity("");
  }
  box.form.addEventListener("input", check);
  check();
})();
