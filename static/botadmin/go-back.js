// A button that goes back a page: <button data-go-back> (the expired form's page,
// templates/403_csrf.html). A listener here, as the Content-Security-Policy refuses
// an onclick attribute.
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-go-back]")) history.back();
});
