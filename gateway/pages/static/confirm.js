// Irreversible staff actions ask first: a form with data-confirm="…" is sent only when the
// person confirms the question (closing a day, approving a decision).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var submitter = event.submitter;
  var question = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
