// Passerelle — installable app: registers the one service worker (scope "/") on every page.
(function () {
  "use strict";
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;

  window.addEventListener("load", function () {
    navigator.serviceWorker
      .register("/service-worker.js", { scope: "/", updateViaCache: "none" })
      .catch(function (error) {
        // The site works without it; only offline use is lost.
        if (window.console) console.warn("Passerelle : service worker non enregistré.", error);
      });
  });
})();
