// Passerelle — working without network (SPEC F7), on top of outbox.js and the service worker.
//
// - Assessment page: a change that cannot reach the server (no network, or earlier changes
//   of this assessment still waiting) goes to the outbox instead of the usual htmx request;
//   the item shows "En attente d'envoi". After a reload from the cache, waiting values are
//   shown again. When receipts come back, the items are re-read from the server.
// - Activity sheet (learner): a save that cannot reach the server goes to the outbox too.
// - The outbox is sent without user action: on load, on `online`, when the page becomes
//   visible, by Background Sync (service worker), and by the "Synchroniser" button.
// - One status line (a live region) says "N modifications en attente"; an expired session
//   shows a banner with a sign-in link that comes back to this page.
// - "Disponible hors connexion" buttons ask the worker to keep a page on the device.
// - Signing out with changes waiting asks first (naming the count) and keeps them.
(function () {
  "use strict";

  var Outbox = window.PasserelleOutbox;
  var meta = document.querySelector('meta[name="passerelle-user"]');
  var userId = meta ? parseInt(meta.getAttribute("content"), 10) : NaN;
  var state = { entries: [], auth: false, syncing: null, lastStatus: null, sent: false };
  var ui = null;
  var assessment = null; // {id, base}
  var sheetForm = null;
  var USER_KEY = "passerelle:user";
  var PAGE_ID = String(Math.random()).slice(2);

  if (!Outbox || !window.indexedDB || !userId) return;

  function plural(n, one, many) { return n + " " + (n > 1 ? many : one); }

  function online() { return navigator.onLine !== false; }

  // --- the service worker ---------------------------------------------------------------

  function worker(message, timeout) {
    if (!("serviceWorker" in navigator)) return Promise.resolve(null);
    return Promise.race([
      navigator.serviceWorker.ready.then(function (registration) {
        var target = navigator.serviceWorker.controller || registration.active;
        if (!target) return null;
        return new Promise(function (resolve) {
          var channel = new MessageChannel();
          channel.port1.onmessage = function (event) { resolve(event.data); };
          target.postMessage(message, [channel.port2]);
        });
      }),
      new Promise(function (resolve) { setTimeout(function () { resolve(null); }, timeout || 15000); })
    ]).catch(function () { return null; });
  }

  function backgroundSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) return registration.sync.register(Outbox.TAG);
    }).catch(function () { /* not supported: the page's own triggers remain */ });
  }

  var recache = null;
  function recachePageSoon() {
    if (!assessment && !sheetForm) return;
    clearTimeout(recache);
    recache = setTimeout(function () {
      worker({ type: "keep", url: location.pathname }, 20000);
    }, 1200);
  }

  // --- the status line ----------------------------------------------------------------------

  function buildUi() {
    var home = document.querySelector("[data-outbox-home]");
    var box = document.createElement("div");
    box.className = "outbox" + (home ? "" : " outbox-bar");
    box.id = "outbox";
    box.hidden = !home;
    box.innerHTML =
      '<p class="outbox-text" id="outbox-status" role="status" aria-live="polite"></p>' +
      '<p class="outbox-auth" hidden><strong>Votre session a expiré.</strong> ' +
      '<span data-auth-text></span> <a class="button small primary" data-login href="/connexion">Se reconnecter</a></p>' +
      '<div class="outbox-actions"><button type="button" class="button small" data-sync-now>Synchroniser</button></div>' +
      '<details class="outbox-details" hidden><summary>Voir les modifications en attente</summary>' +
      '<ul class="outbox-list"></ul>' +
      '<p><button type="button" class="button small ghost" data-discard>Supprimer ces modifications de cet appareil</button></p>' +
      "</details>";
    if (home) {
      home.appendChild(box);
    } else {
      var topbar = document.querySelector(".topbar");
      if (topbar && topbar.parentNode) topbar.parentNode.insertBefore(box, topbar.nextSibling);
      else document.body.insertBefore(box, document.body.firstChild);
    }
    var login = box.querySelector("[data-login]");
    login.href = "/connexion?next=" + encodeURIComponent(location.pathname + location.search);
    box.querySelector("[data-sync-now]").addEventListener("click", function () {
      sync({ retryErrors: true, manual: true });
    });
    box.querySelector("[data-discard]").addEventListener("click", discardAll);
    return {
      box: box,
      home: home,
      text: box.querySelector(".outbox-text"),
      auth: box.querySelector(".outbox-auth"),
      authText: box.querySelector("[data-auth-text]"),
      button: box.querySelector("[data-sync-now]"),
      details: box.querySelector(".outbox-details"),
      list: box.querySelector(".outbox-list")
    };
  }

  function render() {
    if (!ui) return;
    var n = state.entries.length;
    var refused = state.entries.filter(function (e) { return e.error; }).length;
    var text;
    if (n) {
      text = plural(n, "modification en attente", "modifications en attente");
      if (refused) text += " (dont " + plural(refused, "refusée", "refusées") + " par le serveur)";
      if (state.syncing) text += " — envoi en cours…";
      else if (!online()) text += " — hors connexion : " + (n > 1 ? "elles seront envoyées" : "elle sera envoyée") + " au retour du réseau.";
      else if (state.lastStatus === "error") text += " — le serveur n'a pas répondu, nouvel essai dans un instant.";
    } else if (!online()) {
      text = "Hors connexion : vos saisies sont gardées sur cet appareil.";
    } else {
      text = state.sent ? "Toutes vos saisies sont envoyées." : "Aucune modification en attente.";
    }
    if (ui.text.textContent !== text) ui.text.textContent = text;
    ui.box.dataset.pending = String(n);
    ui.box.hidden = !ui.home && !n && online() && !state.auth;
    ui.button.hidden = !n;
    ui.button.disabled = !!state.syncing;
    ui.auth.hidden = !(state.auth && n);
    if (state.auth) {
      ui.authText.textContent = n
        ? plural(n, "modification attend", "modifications attendent") + " sur cet appareil : reconnectez-vous pour l'envoyer."
        : "";
      if (n > 1) ui.authText.textContent = ui.authText.textContent.replace("l'envoyer", "les envoyer");
    }
    ui.details.hidden = !n;
    ui.list.textContent = "";
    state.entries.forEach(function (entry) {
      var li = document.createElement("li");
      var when = new Date(entry.createdAt);
      li.textContent = (entry.label || (entry.type === "sheet" ? "Fiche activité" : entry.itemKey)) +
        (entry.valueText ? " : " + entry.valueText : "") +
        " — " + when.toLocaleString("fr-FR", { dateStyle: "short", timeStyle: "short" });
      if (entry.error) {
        var why = document.createElement("strong");
        why.textContent = " Refusée : " + entry.error.message;
        li.appendChild(why);
      }
      ui.list.appendChild(li);
    });
  }

  function refresh() {
    return Outbox.pending(userId).then(function (entries) {
      state.entries = entries;
      render();
      return entries;
    }, function () { return state.entries; });
  }

  function discardAll() {
    var n = state.entries.length;
    if (!n) return;
    var message = plural(n, "modification n'a", "modifications n'ont") +
      " pas été envoyée" + (n > 1 ? "s au serveur. Les supprimer de cet appareil ? Elles seront perdues."
        : " au serveur. La supprimer de cet appareil ? Elle sera perdue.");
    if (!window.confirm(message)) return;
    Outbox.discard(userId).then(function () {
      document.querySelectorAll(".is-pending").forEach(unmarkPending);
      return refresh();
    });
  }

  // --- sending --------------------------------------------------------------------------------

  function sync(options) {
    options = options || {};
    if (state.syncing) {
      state.again = true; // a change queued while sending: another round afterwards
      return state.syncing;
    }
    if (!state.entries.length && !options.manual) return refresh();
    var headers = window.Passerelle && window.Passerelle.liveHeaders ? window.Passerelle.liveHeaders() : {};
    state.again = false;
    state.syncing = Outbox.flush({ retryErrors: !!options.retryErrors, headers: headers, source: PAGE_ID })
      .then(function (result) {
        state.lastStatus = result.status;
        if (result.status === "auth") state.auth = true;
        else if (result.status === "ok" || result.status === "empty") state.auth = false;
        return refresh().then(function () {
          state.syncing = null;
          afterSync(result.receipts || []);
          if (state.again && result.status === "ok") syncSoon(100);
          else if (result.status === "error" && state.entries.length) syncSoon(30000);
          render();
          return result;
        });
      }, function () {
        state.syncing = null;
        state.lastStatus = "error";
        return refresh();
      });
    render();
    return state.syncing;
  }

  var soon = null;
  function syncSoon(delay) {
    clearTimeout(soon);
    soon = setTimeout(function () { if (online()) sync(); }, delay || 300);
  }

  // After receipts: show the server's state of the items (and the sheet's saved date), and
  // refresh the copy of this page kept for offline use.
  function afterSync(receipts) {
    if (!receipts.length) return;
    state.sent = true;
    receipts.forEach(function (receipt) {
      if (assessment && receipt.type === "assessment_item" && receipt.assessment_id === assessment.id) {
        reloadItem(receipt.item_key);
      }
      if (sheetForm && receipt.type === "sheet" && receipt.sheet_id === sheetForm.sheetId) {
        if (receipt.outcome === "superseded") {
          sheetStatus("La fiche a été modifiée depuis un autre appareil après votre texte : " +
            "c'est cette version qui est gardée. Votre brouillon reste sur ce téléphone.", "offline");
        } else if (!pendingFor("sheet", sheetForm.sheetId)) {
          sheetSaved(receipt.updated_at);
        }
      }
    });
    render();
    recachePageSoon();
  }

  // --- the assessment page ----------------------------------------------------------------------

  function domId(key) {
    var kind = key.split(":")[0];
    var prefix = { criterion: "c", competency: "k" }[kind];
    return "item-" + (prefix ? prefix + key.split(":")[1] : key);
  }

  function keyOfPath(path) {
    if (!assessment || !path || path.indexOf(assessment.base) !== 0) return null;
    var rest = path.slice(assessment.base.length).split("?")[0];
    if (!rest || rest.indexOf("/") >= 0) return null;
    return decodeURIComponent(rest);
  }

  function pendingFor(kind, id) {
    return state.entries.some(function (entry) {
      return kind === "sheet" ? entry.type === "sheet" && entry.sheetId === id
        : entry.type === "assessment_item" && entry.assessmentId === id;
    });
  }

  function labelOf(box, key) {
    if (!box) return key;
    var legend = box.querySelector("legend, label");
    var text = key;
    if (legend) {
      // The competency a global rating belongs to is spelled out for screen readers only;
      // the list of waiting changes already shows its code.
      var copy = legend.cloneNode(true);
      copy.querySelectorAll(".rated-of").forEach(function (hidden) { hidden.remove(); });
      text = copy.textContent;
    }
    var block = box.closest(".comp");
    var code = block && block.querySelector("h3 b");
    if (code && key.indexOf("competency:") === 0) text = code.textContent + " " + text;
    text = text.replace(/\s+/g, " ").trim();
    return text.length > 90 ? text.slice(0, 87) + "…" : text;
  }

  function valueText(key, value) {
    if (value === null || value === "") return "effacée";
    if (key === "engagement") return plural(parseInt(value, 10), "étoile", "étoiles");
    if (key === "comment") return value.length > 40 ? value.slice(0, 37) + "…" : value;
    return value;
  }

  function markPending(box) {
    if (!box) return;
    box.classList.add("is-pending");
    if (!box.querySelector(".pending-note")) {
      var note = document.createElement("p");
      note.className = "pending-note";
      note.textContent = "En attente d'envoi";
      box.appendChild(note);
    }
  }

  function unmarkPending(box) {
    box.classList.remove("is-pending");
    var note = box.querySelector(".pending-note");
    if (note) note.remove();
  }

  function param(parameters, name) {
    if (!parameters) return null;
    var value = typeof parameters.get === "function" ? parameters.get(name) : parameters[name];
    if (Array.isArray(value)) value = value[value.length - 1];
    return value === undefined ? null : value;
  }

  // The last waiting change of this item (or sheet) already says this: nothing to add (e.g.
  // sheets.js saving the same text again when the network returns).
  function alreadyWaiting(kind, id, fields) {
    var last = null;
    state.entries.forEach(function (entry) {
      if (kind === "sheet" ? entry.type === "sheet" && entry.sheetId === id
        : entry.type === "assessment_item" && entry.assessmentId === assessment.id && entry.itemKey === id) {
        last = entry;
      }
    });
    if (!last || last.error) return false;
    if (kind !== "sheet") return last.value === fields;
    return Object.keys(fields).every(function (name) { return last.fields[name] === fields[name]; });
  }

  function queueItem(key, value, base, failed) {
    var box = document.getElementById(domId(key));
    var version = parseInt(base, 10);
    if (isNaN(version)) version = box && box.dataset.version ? parseInt(box.dataset.version, 10) : null;
    var clean = value === null || value === undefined || value === "" ? null : String(value);
    markPending(box);
    if (alreadyWaiting("item", key, clean)) return Promise.resolve();
    return Outbox.add({
      userId: userId,
      type: "assessment_item",
      assessmentId: assessment.id,
      itemKey: key,
      value: clean,
      baseVersion: isNaN(version) ? null : version,
      label: labelOf(box, key),
      valueText: valueText(key, clean),
      page: location.pathname
    }).then(function () { return afterQueue(failed); });
  }

  // Offline, Background Sync sends when the network returns (even with the page closed).
  // Online with earlier changes waiting, send now. After a request that failed although the
  // device says it is online (a weak signal, a server out of reach), try again a bit later.
  function afterQueue(failed) {
    if (!online()) backgroundSync();
    return refresh().then(function () { if (online()) syncSoon(failed ? 5000 : 200); });
  }

  function reloadItem(key) {
    var id = domId(key);
    var box = document.getElementById(id);
    if (!box || !window.htmx) return;
    if (box.contains(document.activeElement) && /^(TEXTAREA|INPUT)$/.test(document.activeElement.tagName) &&
        document.activeElement.type !== "radio") {
      unmarkPending(box);
      return; // someone is typing there: the next save brings the server's answer
    }
    document.dispatchEvent(new CustomEvent("passerelle:item-settled", { detail: { id: id } }));
    fetch(assessment.base + key, {
      credentials: "same-origin", cache: "no-store", headers: { "HX-Request": "true" }
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (html) {
      var current = document.getElementById(id);
      if (!current) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById(id);
      if (!fresh) return;
      current.replaceWith(fresh);
      window.htmx.process(fresh);
      doc.querySelectorAll("[hx-swap-oob]").forEach(function (part) {
        var old = part.id && document.getElementById(part.id);
        if (!old) return;
        part.removeAttribute("hx-swap-oob");
        old.replaceWith(part);
        window.htmx.process(part);
      });
    }).catch(function () { if (box) unmarkPending(box); });
  }

  // Waiting values, shown again on a page reopened from the cache.
  function showPending() {
    if (!assessment) return;
    state.entries.forEach(function (entry) {
      if (entry.type !== "assessment_item" || entry.assessmentId !== assessment.id) return;
      var box = document.getElementById(domId(entry.itemKey));
      if (!box) return;
      var radios = box.querySelectorAll("input[type=radio]");
      if (radios.length) {
        radios.forEach(function (radio) { radio.checked = entry.value !== null && radio.value === entry.value; });
      } else {
        var field = box.querySelector("textarea, input[type=date]");
        if (field) field.value = entry.value || "";
      }
      markPending(box);
    });
  }

  function bindAssessment() {
    var root = document.getElementById("assessment");
    if (!root || !root.dataset.assessment || !root.dataset.base) return;
    assessment = { id: parseInt(root.dataset.assessment, 10), base: root.dataset.base };

    document.addEventListener("htmx:configRequest", function (event) {
      var detail = event.detail;
      if (!detail || String(detail.verb).toLowerCase() !== "post") return;
      var key = keyOfPath(detail.path);
      if (!key) return;
      if (online() && !pendingFor("assessment", assessment.id)) return; // the usual way
      event.preventDefault();
      queueItem(key, param(detail.parameters, "value"), param(detail.parameters, "base_version"));
    });

    document.addEventListener("htmx:sendError", function (event) {
      var config = event.detail && event.detail.requestConfig;
      if (!config || String(config.verb).toLowerCase() !== "post") return;
      var key = keyOfPath(config.path);
      if (key) {
        queueItem(key, param(config.parameters, "value"), param(config.parameters, "base_version"), true);
      } else if (config.path && config.path.indexOf("/portfolios/") === 0) {
        flashOffline("Pas de connexion : cette action n'a pas été envoyée. Réessayez au retour du réseau.");
      }
    });

    document.addEventListener("htmx:afterRequest", function (event) {
      var xhr = event.detail && event.detail.xhr;
      if (xhr && xhr.status >= 200 && xhr.status < 300 && event.detail.requestConfig &&
          String(event.detail.requestConfig.verb).toLowerCase() === "post") {
        recachePageSoon();
      }
    });
    document.addEventListener("htmx:sseMessage", recachePageSoon);
  }

  function flashOffline(text) {
    var flash = document.getElementById("flash");
    if (!flash) return;
    flash.textContent = "";
    var message = document.createElement("p");
    message.className = "flash flash-warning";
    message.textContent = text;
    flash.appendChild(message);
  }

  // --- the learner's activity sheet -------------------------------------------------------------

  var SHEET_FIELDS = ["title", "company", "conditions", "activity_id", "description", "analysis"];

  function sheetStatus(text, kind) {
    var status = sheetForm && sheetForm.form.querySelector("#save-status");
    if (!status) return;
    status.dataset.state = kind;
    status.classList.toggle("is-error", kind === "offline");
    status.textContent = text;
  }

  var NO_NETWORK = "Pas de connexion : votre texte est gardé sur ce téléphone et sera envoyé dès le retour du réseau.";

  function formValues(form) {
    var out = {};
    form.querySelectorAll("input[type=text], input[type=radio], select, textarea").forEach(function (el) {
      if (!el.name) return;
      if (el.type === "radio") {
        if (el.checked) out[el.name] = el.value;
        else if (!(el.name in out)) out[el.name] = "";
      } else {
        out[el.name] = el.value;
      }
    });
    return out;
  }

  // The server has the sheet as this page shows it: say so as sheets.js does after a save,
  // and drop its draft (kept on the device until the server has the text).
  function sheetSaved(updatedAt) {
    var form = sheetForm.form;
    if (updatedAt) form.dataset.savedAt = updatedAt;
    var when = updatedAt ? new Date(updatedAt) : new Date();
    var hhmm = ("0" + when.getHours()).slice(-2) + ":" + ("0" + when.getMinutes()).slice(-2);
    sheetStatus("Enregistré à " + hhmm, "saved");
    var key = form.dataset.draftKey;
    try {
      var draft = key && JSON.parse(window.localStorage.getItem(key) || "null");
      if (!draft || !draft.fields) return;
      var shown = formValues(form);
      var same = Object.keys(draft.fields).every(function (name) {
        return name === "csrf_token" || name === "page" || !(name in shown) ||
          (draft.fields[name] || "") === (shown[name] || "");
      });
      if (same) window.localStorage.removeItem(key);
    } catch (e) { /* private mode */ }
  }

  function queueSheet(parameters, failed) {
    var fields = {};
    var form = sheetForm.form;
    SHEET_FIELDS.forEach(function (name) {
      if (!form.querySelector('[name="' + name + '"]')) return;
      var value = param(parameters, name);
      if (name === "activity_id") value = value ? parseInt(value, 10) || null : null;
      else if (value === null) value = "";
      fields[name] = value;
    });
    if (!Object.keys(fields).length) return Promise.resolve();
    sheetStatus(NO_NETWORK, "offline");
    if (alreadyWaiting("sheet", sheetForm.sheetId, fields)) return Promise.resolve();
    var title = document.querySelector(".sheet-header h1");
    return Outbox.add({
      userId: userId,
      type: "sheet",
      sheetId: sheetForm.sheetId,
      fields: fields,
      baseUpdatedAt: form.dataset.savedAt || null,
      label: "Fiche : " + (title ? title.textContent.trim() : ""),
      page: location.pathname
    }).then(function () { return afterQueue(failed); });
  }

  function bindSheet() {
    var form = document.querySelector("form#sheet-form[data-draft-key]");
    var match = form && /\/fiches\/(\d+)\/enregistrer$/.exec(form.getAttribute("action") || "");
    if (!match) return;
    sheetForm = { form: form, sheetId: parseInt(match[1], 10) };
    form.addEventListener("htmx:configRequest", function (event) {
      if (event.detail.elt !== form) return;
      if (online() && !pendingFor("sheet", sheetForm.sheetId)) return;
      event.preventDefault();
      queueSheet(event.detail.parameters);
    });
    form.addEventListener("htmx:sendError", function (event) {
      var config = event.detail && event.detail.requestConfig;
      if (config && config.elt === form) queueSheet(config.parameters, true);
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      var xhr = event.detail && event.detail.xhr;
      if (xhr && xhr.status >= 200 && xhr.status < 300) recachePageSoon();
    });
  }

  // --- keeping pages on the device ------------------------------------------------------------

  function buttonText(button, text) {
    var span = button.querySelector("[data-keep-text]");
    (span || button).textContent = text;
  }

  function keptLabel(button, when) {
    button.classList.add("is-kept");
    button.setAttribute("aria-pressed", "true");
    buttonText(button, "✓ Disponible hors connexion");
    var note = button.parentNode.querySelector(".kept-note[data-for='" + button.dataset.keepOffline + "']");
    if (when && note) note.textContent = "Copie sur cet appareil du " + when.toLocaleString("fr-FR", { dateStyle: "short", timeStyle: "short" }) + ".";
  }

  function bindKeepOffline() {
    var buttons = document.querySelectorAll("[data-keep-offline]");
    if (!buttons.length || !("caches" in window)) {
      buttons.forEach(function (button) { button.hidden = true; });
      return;
    }
    buttons.forEach(function (button) {
      var url = button.dataset.keepOffline;
      button.setAttribute("aria-pressed", "false");
      caches.match(url, { ignoreVary: true }).then(function (hit) {
        if (hit) keptLabel(button, hit.headers.get("Date") ? new Date(hit.headers.get("Date")) : null);
      });
      button.addEventListener("click", function () {
        if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
        button.disabled = true;
        buttonText(button, "Enregistrement sur l'appareil…");
        worker({ type: "keep", url: url }, 30000).then(function (answer) {
          button.disabled = false;
          if (answer && answer.ok) {
            keptLabel(button, new Date());
          } else {
            buttonText(button, "Disponible hors connexion");
            flashOffline(answer && answer.reason === "auth"
              ? "Session expirée : reconnectez-vous pour garder ce bilan sur l'appareil."
              : "Impossible d'enregistrer cette page sur l'appareil (réseau indisponible ?).");
          }
        });
      });
    });
  }

  // --- signing out ----------------------------------------------------------------------------

  function bindLogout() {
    var form = document.getElementById("logout-form");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed) return;
      event.preventDefault();
      var attempt = online() && state.entries.length
        ? Promise.race([sync(), new Promise(function (r) { setTimeout(r, 5000); })])
        : Promise.resolve();
      attempt.then(refresh).then(function (entries) {
        var n = entries.length;
        if (n) {
          var message = plural(n, "modification n'a", "modifications n'ont") + " pas encore été envoyée" +
            (n > 1 ? "s" : "") + " au serveur. " + (n > 1 ? "Elles restent" : "Elle reste") +
            " sur cet appareil et " + (n > 1 ? "seront envoyées" : "sera envoyée") +
            " à votre prochaine connexion. Se déconnecter quand même ?";
          if (!window.confirm(message)) return;
        }
        // Pages kept for offline use are personal: not for whoever signs in next.
        return worker({ type: "forget-pages" }, 3000).then(function () {
          form.dataset.confirmed = "1";
          form.submit();
        });
      });
    });
  }

  // --- start ------------------------------------------------------------------------------------

  function onMessage(data) {
    if (!data || typeof data !== "object") return;
    if (data.type === "synced" && data.source === PAGE_ID) return; // our own flush
    var synced = data.type === "synced" && data.userId === userId;
    if (synced) {
      if (data.status === "auth") state.auth = true;
      if (data.status === "ok") state.auth = false;
      state.lastStatus = data.status;
    }
    refresh().then(function () { if (synced) afterSync(data.receipts || []); });
  }

  function start() {
    try {
      var previous = window.localStorage.getItem(USER_KEY);
      if (previous && previous !== String(userId)) worker({ type: "forget-pages" }, 3000);
      window.localStorage.setItem(USER_KEY, String(userId));
    } catch (e) { /* private mode */ }
    ui = buildUi();
    bindAssessment();
    bindSheet();
    bindKeepOffline();
    bindLogout();
    if ("BroadcastChannel" in window) {
      new BroadcastChannel(Outbox.TAG).onmessage = function (event) { onMessage(event.data); };
    }
    refresh().then(function () {
      showPending();
      if (state.entries.length) backgroundSync();
      syncSoon(100);
    });
    window.addEventListener("online", function () { render(); syncSoon(100); });
    window.addEventListener("offline", render);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") syncSoon(100);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
