// Passerelle — activity sheets: keep a draft on the device until the server confirms it,
// send it when the phone locks, retry when the network returns; print buttons; grid errors.
// No inline scripts (strict CSP); htmx does the saving, this file only guards the text.
(function () {
  "use strict";

  var FIELDS = "input[type=text], input[type=radio], select, textarea";

  function storage() {
    try {
      var probe = "__passerelle_probe__";
      window.localStorage.setItem(probe, probe);
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null;
    }
  }

  function values(form) {
    var out = {};
    form.querySelectorAll(FIELDS).forEach(function (el) {
      if (!el.name) return;
      if (el.type === "radio") {
        if (el.checked) out[el.name] = el.value;
        else if (!(el.name in out)) out[el.name] = out[el.name] || "";
      } else {
        out[el.name] = el.value;
      }
    });
    return out;
  }

  function same(a, b) {
    var keys = Object.keys(a).concat(Object.keys(b));
    for (var i = 0; i < keys.length; i++) {
      if ((a[keys[i]] || "") !== (b[keys[i]] || "")) return false;
    }
    return true;
  }

  function apply(form, fields) {
    Object.keys(fields).forEach(function (name) {
      form.querySelectorAll("[name='" + name.replace(/'/g, "") + "']").forEach(function (el) {
        if (el.type === "radio") el.checked = el.value === fields[name];
        else el.value = fields[name];
      });
    });
  }

  function setStatus(form, state, text) {
    var status = form.querySelector("#save-status");
    if (!status) return;
    status.dataset.state = state;
    status.classList.toggle("is-error", state === "offline");
    status.textContent = text;
  }

  function DraftKeeper(form, store) {
    this.form = form;
    this.store = store;
    this.key = form.dataset.draftKey;
    this.sent = null;
  }

  DraftKeeper.prototype.read = function () {
    try {
      return JSON.parse(this.store.getItem(this.key) || "null");
    } catch (e) {
      return null;
    }
  };

  DraftKeeper.prototype.write = function () {
    var draft = this.read();
    var base = draft ? draft.base : this.form.dataset.savedAt || "";
    this.store.setItem(this.key, JSON.stringify({ base: base, at: Date.now(), fields: values(this.form) }));
  };

  DraftKeeper.prototype.clear = function () {
    this.store.removeItem(this.key);
  };

  DraftKeeper.prototype.save = function () {
    var form = this.form;
    window.setTimeout(function () {
      if (window.htmx) window.htmx.trigger(form, "change");
    }, 0);
  };

  DraftKeeper.prototype.restore = function () {
    var draft = this.read();
    if (!draft || !draft.fields) return;
    var current = values(this.form);
    var relevant = {};
    Object.keys(draft.fields).forEach(function (name) {
      if (name in current && name !== "csrf_token" && name !== "page") relevant[name] = draft.fields[name];
    });
    var shown = {};
    Object.keys(relevant).forEach(function (name) { shown[name] = current[name]; });
    if (same(relevant, shown)) {
      this.clear();  // the server already has this text
      return;
    }
    if ((draft.base || "") === (this.form.dataset.savedAt || "")) {
      apply(this.form, relevant);
      setStatus(this.form, "pending", "Texte non enregistré retrouvé sur cet appareil : enregistrement…");
      this.save();
      return;
    }
    this.offer(relevant);
  };

  DraftKeeper.prototype.offer = function (fields) {
    // The sheet changed elsewhere since this draft was started: let the learner choose.
    var self = this;
    var box = document.createElement("div");
    box.className = "flash flash-warning draft-offer";
    box.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.textContent = "Un brouillon non enregistré de cet appareil existe, mais la fiche a été modifiée depuis ailleurs.";
    var keep = document.createElement("button");
    keep.type = "button";
    keep.className = "button small primary";
    keep.textContent = "Restaurer le brouillon de cet appareil";
    var drop = document.createElement("button");
    drop.type = "button";
    drop.className = "button small ghost";
    drop.textContent = "Garder la version enregistrée";
    keep.addEventListener("click", function () {
      apply(self.form, fields);
      box.remove();
      self.write();
      self.save();
    });
    drop.addEventListener("click", function () {
      self.clear();
      box.remove();
    });
    box.appendChild(text);
    box.appendChild(keep);
    box.appendChild(document.createTextNode(" "));
    box.appendChild(drop);
    this.form.parentNode.insertBefore(box, this.form);
  };

  DraftKeeper.prototype.flush = function () {
    // The page is being hidden (phone locked, tab switched): send what is unsaved.
    if (!this.read() || !navigator.sendBeacon) return;
    try {
      navigator.sendBeacon(this.form.action, new FormData(this.form));
    } catch (e) { /* the draft stays on the device */ }
  };

  DraftKeeper.prototype.bind = function () {
    var self = this;
    var form = this.form;
    form.addEventListener("input", function () { self.write(); });
    form.addEventListener("change", function (event) {
      if (event.isTrusted) self.write();
    });
    form.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.elt !== form) return;
      self.sent = values(form);
      setStatus(form, "pending", "Enregistrement…");
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.elt !== form) return;
      var xhr = event.detail.xhr;
      if (xhr && xhr.status >= 200 && xhr.status < 300) {
        var status = form.querySelector("#save-status");
        if (status && status.dataset.savedAt) form.dataset.savedAt = status.dataset.savedAt;
        if (self.sent && same(self.sent, values(form))) self.clear();
        else self.write();
      } else if (!xhr || xhr.status === 0 || xhr.status >= 500) {
        setStatus(form, "offline", "Pas de connexion : votre texte est gardé sur ce téléphone et sera envoyé dès le retour du réseau.");
      }
    });
    window.addEventListener("online", function () {
      if (self.read()) self.save();
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") self.flush();
    });
    window.addEventListener("pagehide", function () { self.flush(); });
  };

  function initDrafts() {
    var store = storage();
    if (!store) return;
    document.querySelectorAll("form[data-draft-key]").forEach(function (form) {
      if (form.dataset.draftBound) return;
      form.dataset.draftBound = "1";
      var keeper = new DraftKeeper(form, store);
      keeper.bind();
      keeper.restore();
    });
  }

  // "Relier au référentiel": each box saves at once and its task block comes back. The item
  // is the box's name and value ("crit:12:345"); the no-JS form posts them all instead.
  function toggle(el, checked) {
    var grid = el.closest("form.link-grid");
    var block = el.closest(".link-task");
    if (!grid || !block || !window.htmx) return;
    window.htmx.ajax("POST", grid.dataset.toggleUrl, {
      source: el,
      target: block,
      swap: "outerHTML",
      values: { item: el.name + ":" + el.value, checked: checked ? "1" : "0" }
    });
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.type === "checkbox" && el.closest && el.closest("form.link-grid")) {
      toggle(el, el.checked);
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("form.link-grid button[name=confirm]");
    if (button) {
      event.preventDefault();
      toggle(button, true);
    }
  });

  // A box of the grid that could not be saved goes back to its saved state (refused: the
  // server's message shows in #flash; no network: say so here).
  document.addEventListener("htmx:afterRequest", function (event) {
    var el = event.detail.elt;
    var xhr = event.detail.xhr;
    if (!el || el.type !== "checkbox" || !el.closest || !el.closest(".link-grid")) return;
    if (xhr && xhr.status > 0 && xhr.status < 400) return;
    if (document.body.contains(el)) el.checked = !el.checked;
    if (xhr && xhr.status > 0) return;
    var flash = document.getElementById("flash");
    if (flash) {
      flash.innerHTML = "";
      var message = document.createElement("p");
      message.className = "flash flash-error";
      message.setAttribute("role", "alert");
      message.textContent = "Pas de connexion : cette case n'a pas été enregistrée. Réessayez.";
      flash.appendChild(message);
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) {
      event.preventDefault();
      window.print();
    }
  });

  // After htmx has processed the page (its DOMContentLoaded handler is registered first).
  if (document.readyState === "complete") initDrafts();
  else document.addEventListener("DOMContentLoaded", initDrafts);
})();
