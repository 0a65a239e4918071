// Assessment page: save each item as soon as it changes (htmx answers with that item's
// fragment), one request at a time per item and always the latest choice, keep keyboard
// focus and unsaved typing across the swap, and undo the visual change when the server
// refuses it. Without JavaScript the page is one form with an "Enregistrer le bilan" button.
(function () {
  "use strict";

  var state = {}; // item DOM id → { latest, sent, inflight, again, timer }
  var carried = null; // what had the focus in an item about to be swapped

  // An item is a rating fieldset (id "item-c12": criterion 12, "item-k3": competency 3) or
  // a field marked data-item="engagement" / "meeting_date" / "comment".
  function box(el) {
    return el && el.closest ? el.closest("[data-item], fieldset.rg[id^='item-']") : null;
  }

  function keyOf(item) {
    if (item.dataset.item) return item.dataset.item;
    var name = item.id.slice(5);
    var kind = { c: "criterion", k: "competency" }[name.charAt(0)];
    return kind ? kind + ":" + name.slice(1) : name;
  }

  function urlOf(item) {
    var root = document.getElementById("assessment");
    return root && root.dataset.base ? root.dataset.base + keyOf(item) : null;
  }

  function field(item) {
    return item.querySelector("textarea, input[type=date]");
  }

  function currentValue(item) {
    var checked = item.querySelector("input[type=radio]:checked");
    if (checked) return checked.value;
    var f = field(item);
    return f ? f.value : "";
  }

  function savedValue(item) {
    var radios = item.querySelectorAll("input[type=radio]");
    for (var i = 0; i < radios.length; i++) if (radios[i].defaultChecked) return radios[i].value;
    var f = field(item);
    return f ? f.defaultValue : "";
  }

  function radioFor(item, value) {
    return item.querySelector('input[type=radio][value="' + CSS.escape(value) + '"]');
  }

  function schedule(item, value, delay) {
    var s = state[item.id] || (state[item.id] = {});
    s.latest = value;
    clearTimeout(s.timer);
    s.timer = setTimeout(function () { send(item.id); }, delay);
  }

  function send(id) {
    var s = state[id];
    var item = document.getElementById(id);
    if (!s || !item || !window.htmx || !urlOf(item) || s.latest === undefined) return;
    if (s.inflight) { s.again = true; return; }
    if (s.latest === savedValue(item)) return;
    s.inflight = true;
    s.again = false;
    s.sent = s.latest;
    item.classList.add("saving");
    window.htmx.ajax("POST", urlOf(item), {
      source: item,
      target: "#" + id,
      swap: "outerHTML",
      values: { value: s.sent, base_version: item.dataset.version || "" }
    }).finally(function () {
      s.inflight = false;
      var fresh = document.getElementById(id);
      if (fresh) fresh.classList.remove("saving");
      if (s.again || s.latest !== s.sent) send(id);
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var item = box(target);
    if (!item || !urlOf(item)) return;
    if (target.matches("input[type=radio]") && target.checked) {
      // A short delay lets arrow keys run through levels and send only the last one.
      schedule(item, target.value, 150);
    } else if (target.matches("input[type=date]")) {
      if (target.value || !target.validity.badInput) schedule(item, target.value, 0);
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    // "Effacer" (name=clear) and "Enregistrer le commentaire" (data-save) of one item.
    var button = target.closest ? target.closest("button[name=clear], button[data-save]") : null;
    var item = box(button);
    if (button && item && window.htmx && urlOf(item)) {
      event.preventDefault();
      if (button.name === "clear") {
        item.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = false; });
        schedule(item, "", 0);
      } else {
        schedule(item, currentValue(item), 0);
      }
      return;
    }
    // "Par critères" / "Globale": swap the competency block.
    var toggle = target.closest ? target.closest(".mode button[formaction]") : null;
    if (toggle && window.htmx) {
      event.preventDefault();
      var block = toggle.closest(".comp");
      window.htmx.ajax("POST", toggle.getAttribute("formaction"), {
        source: toggle, target: "#" + block.id, swap: "outerHTML", values: { mode: toggle.value }
      });
      return;
    }
    // The history of an item opens in place (the link leads to its page without JS).
    var link = target.closest ? target.closest(".by a") : null;
    if (link && box(link) && window.htmx) {
      event.preventDefault();
      var holder = link.parentNode.querySelector(".hist-body");
      if (holder) {
        holder.remove();
        link.setAttribute("aria-expanded", "false");
        return;
      }
      holder = document.createElement("div");
      holder.className = "hist-body";
      link.parentNode.appendChild(holder);
      link.setAttribute("aria-expanded", "true");
      window.htmx.ajax("GET", link.getAttribute("href"), { source: link, target: holder, swap: "innerHTML" });
    }
  });

  // offline.js sent this item's latest choice through its outbox and now shows the server's
  // answer: that choice is no longer "unsaved", so the swap must not bring it back.
  document.addEventListener("passerelle:item-settled", function (event) {
    var s = event.detail && state[event.detail.id];
    if (s && !s.inflight) {
      clearTimeout(s.timer);
      s.latest = s.sent = undefined;
    }
  });

  // Around the swap of an item: keep the person's latest choice, typing and focus.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var old = event.detail && event.detail.target;
    var active = document.activeElement;
    carried = null;
    if (old && old.id && active && old.contains(active)) {
      carried = {
        id: old.id,
        tag: active.tagName,
        type: active.type,
        value: active.value,
        start: active.selectionStart,
        end: active.selectionEnd
      };
    }
  });

  document.addEventListener("htmx:afterSwap", function () {
    Object.keys(state).forEach(function (id) {
      var s = state[id];
      var fresh = document.getElementById(id);
      if (!fresh || s.latest === undefined || s.latest === savedValue(fresh)) return;
      var radio = radioFor(fresh, s.latest);
      if (radio) radio.checked = true;
    });
    if (!carried) return;
    var fresh = document.getElementById(carried.id);
    var info = carried;
    carried = null;
    if (!fresh) return;
    if (info.type === "radio") {
      var s = state[info.id];
      var radio = radioFor(fresh, s && s.latest !== undefined ? s.latest : info.value) || fresh.querySelector("input[type=radio]:checked");
      if (radio) radio.focus();
      return;
    }
    var f = field(fresh);
    if (f) {
      if (f.value !== info.value) f.value = info.value; // typed while it was being saved
      f.focus();
      if (info.start !== null && info.start !== undefined && f.setSelectionRange) {
        try { f.setSelectionRange(info.start, info.end); } catch (e) { /* date inputs */ }
      }
    }
  });

  // A refused change (409 completed, 404, 403…): show the server's message and undo it.
  document.addEventListener("htmx:responseError", function (event) {
    var detail = event.detail || {};
    var item = box(detail.elt) || (detail.target && box(detail.target));
    if (!item || !document.getElementById("assessment")) return;
    item.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = r.defaultChecked; });
    if (state[item.id]) state[item.id].latest = savedValue(item);
    var flash = document.getElementById("flash");
    var xhr = detail.xhr;
    if (flash && xhr && xhr.responseText && /flash/.test(xhr.responseText)) {
      flash.innerHTML = xhr.responseText;
    }
  });
})();
