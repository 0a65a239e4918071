/* Web Push on this device (issue 16): ask permission, subscribe with the server's VAPID key,
 * hand the subscription to the server (JSON, CSRF header); or unsubscribe. */
"use strict";
(() => {
  const panel = document.getElementById("push-panel");
  const key = panel && panel.dataset.pushKey;
  if (!key) return;
  const state = document.getElementById("push-state");
  const on = document.getElementById("push-on");
  const off = document.getElementById("push-off");
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const say = (text) => { state.textContent = text; };

  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || `Erreur ${response.status}`);
    return data;
  }

  async function registration() {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) return null;
    return navigator.serviceWorker.ready;
  }

  async function refresh() {
    const reg = await registration();
    if (!reg) { say("Ce navigateur ne permet pas les notifications push."); return; }
    const sub = await reg.pushManager.getSubscription();
    if (Notification.permission === "denied") {
      say("Les notifications sont bloquées pour Passerelle dans les réglages du navigateur.");
    } else {
      say(sub ? "Activées sur cet appareil." : "Non activées sur cet appareil.");
    }
    on.hidden = Boolean(sub) || Notification.permission === "denied";
    off.hidden = !sub;
  }

  on.addEventListener("click", async () => {
    on.disabled = true;
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") { say("Vous n'avez pas autorisé les notifications."); return; }
      const reg = await registration();
      let sub;
      try {
        sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      } catch (error) {
        say("Le service de notification du navigateur est injoignable : réessayez avec du réseau.");
        return;
      }
      const answer = await post("/api/push/abonnement", sub.toJSON());
      say(answer.message);
      await refresh();
    } catch (error) {
      say(`Impossible d'activer les notifications : ${error.message}`);
    } finally {
      on.disabled = false;
    }
  });

  off.addEventListener("click", async () => {
    const reg = await registration();
    const sub = reg && (await reg.pushManager.getSubscription());
    if (sub) {
      await post("/api/push/desabonnement", { endpoint: sub.endpoint }).catch(() => null);
      await sub.unsubscribe();
    }
    await refresh();
  });

  refresh().catch(() => say("Ce navigateur ne permet pas les notifications push."));
})();
