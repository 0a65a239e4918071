// Passerelle — small progressive enhancements. No inline scripts (strict CSP).
(function () {
  "use strict";

  // Side menu: open on wide screens, collapsed on phones.
  function syncMenu() {
    var wide = window.matchMedia("(min-width: 900px)").matches;
    document.querySelectorAll("details[data-wide-open]").forEach(function (el) {
      if (wide) el.setAttribute("open", "");
      else if (!el.dataset.touched) el.removeAttribute("open");
    });
  }

  // Level selector navigates at once (the "Afficher" button is the no-JS fallback).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-nav-select]");
    if (!select || !window.htmx) return;
    var option = select.options[select.selectedIndex];
    var url = option && option.dataset.url;
    if (!url) return;
    window.htmx.ajax("GET", url, { target: "#shell-body", swap: "outerHTML" }).then(function () {
      window.history.pushState({ htmx: true }, "", url);
    });
  });

  // Confirmations without inline JS: <form data-confirm="Message">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("htmx:confirm", function (event) {
    var el = event.detail.elt;
    var message = el && el.dataset && el.dataset.confirm;
    if (message && event.detail.triggerEventName !== "submit") {
      event.preventDefault();
      if (window.confirm(message)) event.detail.issueRequest(true);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    syncMenu();
  });
  document.addEventListener("htmx:afterSettle", syncMenu);
  window.addEventListener("resize", syncMenu);
  document.addEventListener("toggle", function (event) {
    if (event.target.matches && event.target.matches("details[data-wide-open]")) {
      event.target.dataset.touched = "1";
    }
  }, true);
})();
