// Passerelle — live updates (SPEC F8) on top of htmx's SSE extension.
//
// - Each tab has an id, sent with its htmx requests (X-Live-Client) and its streams
//   (?client=), so the tab that made a change does not receive its own echo.
// - A folder (<details>) that was open stays open when its new version replaces it.
// - "parts" messages carry an item's fragment: its elements replace those of the same id.
// - After a dropped stream reconnects, or when the server asks ("refresh"), the live
//   container re-fetches its parts from the page URL: nothing missed stays stale. A part
//   holding the focus (someone typing) is left alone.
// - The server ends a stream whose user lost access ("close"): no endless reconnection.
(function () {
  "use strict";

  function makeId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var CLIENT_ID = makeId();
  window.Passerelle = window.Passerelle || {};
  window.Passerelle.liveClientId = CLIENT_ID;
  window.Passerelle.liveHeaders = function () { return { "X-Live-Client": CLIENT_ID }; };

  function tagStream(el) {
    var url = el.getAttribute("sse-connect");
    if (!url || /[?&]client=/.test(url)) return;
    el.setAttribute("sse-connect", url + (url.indexOf("?") === -1 ? "?" : "&") + "client=" + encodeURIComponent(CLIENT_ID));
  }

  // Before the SSE extension opens the stream (it does so after this event).
  document.addEventListener("htmx:beforeProcessNode", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("sse-connect")) tagStream(el);
  });

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-Live-Client"] = CLIENT_ID;
  });

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var el = event.target;
    if (!el || !el.id || el.tagName !== "DETAILS" || !el.open) return;
    var id = el.id;
    // Runs once the extension has swapped the new version in (synchronously, after this).
    Promise.resolve().then(function () {
      var fresh = document.getElementById(id);
      if (fresh && fresh.tagName === "DETAILS") fresh.open = true;
    });
  });

  var dropped = new WeakSet();
  var watched = new WeakSet();

  document.addEventListener("htmx:sseError", function (event) {
    if (event.target) dropped.add(event.target);
  });

  document.addEventListener("htmx:sseOpen", function (event) {
    var container = event.target;
    var source = event.detail && event.detail.source;
    if (source && !watched.has(source)) {
      watched.add(source);
      source.addEventListener("refresh", function () { refresh(container); });
      source.addEventListener("parts", function (message) { applyParts(message.data); });
      source.addEventListener("close", function () { source.close(); });
    }
    if (dropped.has(container)) {
      dropped.delete(container);
      refresh(container);
    }
    container.setAttribute("data-live", "open");
  });

  function refresh(container) {
    if (!container.id || !document.body.contains(container)) return;
    var url = container.getAttribute("data-live-refresh") || window.location.href;
    fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "HX-Request": "true", "X-Live-Client": CLIENT_ID },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(container.id);
        if (fresh) applyRefresh(container, fresh);
      })
      .catch(function () { /* the next reconnect or event tries again */ });
  }

  // Someone typing in a part: leave it alone (a radio or a button with the focus is not typing).
  function editingIn(el) {
    var active = document.activeElement;
    if (!active || !el.contains(active)) return false;
    if (active.tagName === "TEXTAREA" || active.tagName === "SELECT" || active.isContentEditable) return true;
    return active.tagName === "INPUT" && !/^(radio|checkbox|button|submit|reset|hidden)$/i.test(active.type);
  }

  // "parts": each top-level element replaces the page's element with the same id (the
  // fragment an htmx answer would have swapped, out-of-band parts included).
  function applyParts(html) {
    var body = new DOMParser().parseFromString(html, "text/html").body;
    Array.prototype.forEach.call(body.children, function (part) {
      var old = part.id && document.getElementById(part.id);
      if (!old || editingIn(old)) return;
      part.removeAttribute("hx-swap-oob");
      if (old.tagName === "DETAILS" && old.open) part.setAttribute("open", "");
      window.htmx.swap(old, part.outerHTML, { swapStyle: "outerHTML" });
    });
  }

  function applyRefresh(container, fresh) {
    var parts = fresh.querySelectorAll("[sse-swap][id]");
    if (!parts.length) {
      // No finer parts: the whole content, unless someone is typing in it.
      if (!editingIn(container)) window.htmx.swap(container, fresh.innerHTML, { swapStyle: "innerHTML" });
      return;
    }
    var current = container.querySelectorAll("[sse-swap][id]");
    var sameParts = parts.length === current.length && Array.prototype.every.call(parts, function (part) {
      return document.getElementById(part.id) !== null;
    });
    if (!sameParts) {
      if (editingIn(container)) return;
      window.htmx.swap(container, fresh.innerHTML, { swapStyle: "innerHTML" });
      return;
    }
    Array.prototype.forEach.call(parts, function (part) {
      var old = document.getElementById(part.id);
      if (!old || editingIn(old)) return;
      if (old.tagName === "DETAILS" && old.open) part.setAttribute("open", "");
      window.htmx.swap(old, part.outerHTML, { swapStyle: "outerHTML" });
    });
  }
})();
