// Periods and liaison sheets: small enhancements; every form works without them.
(function () {
  "use strict";
  if (window.passerellePeriods) return; // loaded again by an htmx swap
  window.passerellePeriods = true;

  // "Toute la classe" ticks or unticks the class's learners; unticking one learner unticks
  // the class (a ticked class would otherwise add them all back on the server).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[type=checkbox]")) return;
    var picker = box.closest("#learner-picker");
    if (!picker) return;
    if (box.dataset.classToggle) {
      picker.querySelectorAll('input[data-class-member="' + box.dataset.classToggle + '"]')
        .forEach(function (member) { member.checked = box.checked; });
    } else if (box.dataset.classMember && !box.checked) {
      var toggle = picker.querySelector('input[data-class-toggle="' + box.dataset.classMember + '"]');
      if (toggle) toggle.checked = false;
    }
  });

  // Print buttons (invitation link and QR code).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) window.print();
  });

  // Copy the invitation link.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    navigator.clipboard.writeText(source.value || source.textContent).then(function () {
      button.textContent = "Lien copié";
    });
  });
})();
