// A button with data-print opens the browser's print dialog (the CSP allows no inline
// onclick): the receipt, the label and the handover records.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-print]");
  if (button) {
    window.print();
  }
});
