/* Passerelle service worker (SPEC F7), served at /service-worker.js so its scope is the
 * whole site. The server prepends `self.PASSERELLE = {version, precache, offline}`: the
 * version names the static cache, so a release that changes any asset installs a new worker
 * whose activation drops the old static cache.
 *
 * Requests are routed by type (ROUTES below, first match wins):
 *   /events/… (live streams) and /api/… (JSON, the page handles failures) — not touched;
 *   /static/… — cache first (URLs carry the asset version; offline, another version of the
 *   same file rather than nothing);
 *   /bilans/echelle-<id>.css (a framework's scale colours) — network first, then the copy;
 *   page navigations — network first, then the cached copy of that page if it was kept for
 *   offline use (PAGE_CACHE_RULES), then the offline page.
 * htmx fragment requests and every non-GET request go straight to the network.
 *
 * Offline changes: outbox.js (imported below) keeps them in IndexedDB; the `sync` event
 * (Background Sync, tag "passerelle-outbox") sends them when the network returns, even with
 * no page open. Pages talk to the worker with messages: "keep" (store a page for offline
 * use, with the resources it needs), "forget-pages" (sign-out: cached pages are personal).
 */
"use strict";

const CONFIG = self.PASSERELLE || { version: "dev", precache: [], offline: "/hors-connexion" };
const PREFIX = "passerelle-";
const CACHE = {
  static: `${PREFIX}static-${CONFIG.version}`,
  // Not versioned: a release must not drop the assessments a tutor kept for a visit. They are
  // refreshed when a new worker activates, and each time they are opened online.
  pages: `${PREFIX}pages-v1`,
};

// Pages kept in CACHE.pages after a successful online visit, so they open offline (each rule:
// a RegExp on the path): the assessment, a learner's sheet (Contexte, Fiche), the home lists
// of tutors and learners (the installed app opens on them).
const PAGE_CACHE_RULES = [
  /^\/portfolios\/\d+\/bilan$/,
  /^\/fiches\/\d+(\/fiche)?$/,
  /^\/mes-apprenants$/,
  /^\/mes-portfolios$/,
  /^\/mes-visites$/, // the teacher's round of company visits (issue 16)
];
// What "/" (the app's start URL, a redirect to the user's home) opens offline.
const HOME_PAGES = ["/mes-apprenants", "/mes-portfolios"];
const NAVIGATION_TIMEOUT_MS = 10000;

const outboxScript = CONFIG.precache.find((url) => url.startsWith("/static/js/outbox.js"));
importScripts(outboxScript || "/static/js/outbox.js");

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const statics = await caches.open(CACHE.static);
      await statics.addAll(CONFIG.precache.map((url) => new Request(url, { cache: "reload" })));
      const pages = await caches.open(CACHE.pages);
      // Without cookies: the page is personal to nobody, and a response that set a cookie
      // could race a sign-in.
      await pages.add(new Request(CONFIG.offline, { cache: "reload", credentials: "omit" }));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = new Set(Object.values(CACHE));
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && !keep.has(name)) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
  // Kept pages name the previous assets: fetch them again (best effort, not awaited).
  refreshKeptPages();
});

const ROUTES = [
  { name: "live", test: (url) => url.pathname.startsWith("/events/"), handle: null },
  { name: "api", test: (url) => url.pathname.startsWith("/api/"), handle: null },
  { name: "static", test: (url) => url.pathname.startsWith("/static/"), handle: cacheFirst },
  { name: "scale", test: (url) => /^\/bilans\/echelle-\d+\.css$/.test(url.pathname), handle: networkFirst },
  { name: "page", test: (url, request) => request.mode === "navigate", handle: networkFirstPage },
];

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const route = ROUTES.find((rule) => rule.test(url, request));
  if (!route || !route.handle) return;
  event.respondWith(route.handle(request, url));
});

async function cacheFirst(request) {
  const cache = await caches.open(CACHE.static);
  const hit = await cache.match(request);
  if (hit) return hit;
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") await cache.put(request, response.clone());
    return response;
  } catch (error) {
    // Offline, a page kept before a release names the previous version of the asset.
    const other = await caches.match(request, { ignoreSearch: true });
    if (other) return other;
    throw error;
  }
}

async function networkFirst(request) {
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") {
      const cache = await caches.open(CACHE.pages);
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const copy = await caches.match(request, { ignoreVary: true });
    if (copy) return copy;
    throw error;
  }
}

function keepable(pathname) {
  return PAGE_CACHE_RULES.some((rule) => rule.test(pathname));
}

async function networkFirstPage(request, url) {
  const keep = keepable(url.pathname);
  const cache = await caches.open(CACHE.pages);
  try {
    const response = await withTimeout(fetch(request), keep ? NAVIGATION_TIMEOUT_MS : 0);
    if (keep && response.ok && response.type === "basic") await cache.put(request, response.clone());
    return response;
  } catch (error) {
    let copy = keep ? await cache.match(request, { ignoreVary: true }) : undefined;
    if (!copy && url.pathname === "/") {
      for (const home of HOME_PAGES) {
        copy = await cache.match(home, { ignoreVary: true });
        if (copy) break;
      }
    }
    return copy || (await cache.match(CONFIG.offline)) || Response.error();
  }
}

// A navigation that hangs (a weak signal) falls back to the kept copy after `ms`.
function withTimeout(promise, ms) {
  if (!ms) return promise;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); },
    );
  });
}

// Store a page for offline use, with what it needs beyond the precached assets (the scale
// colours of the assessment). Answers {ok, reason}.
async function keepPage(path) {
  const url = new URL(path, self.location.origin);
  if (url.origin !== self.location.origin || !keepable(url.pathname)) {
    return { ok: false, reason: "not-kept" };
  }
  let response;
  try {
    response = await fetch(url.pathname, { credentials: "same-origin", cache: "no-store", redirect: "manual" });
  } catch (error) {
    return { ok: false, reason: "offline" };
  }
  const type = response.headers.get("Content-Type") || "";
  if (response.type === "opaqueredirect" || response.status === 401) return { ok: false, reason: "auth" };
  if (!response.ok || !type.startsWith("text/html")) return { ok: false, reason: `http-${response.status}` };
  const cache = await caches.open(CACHE.pages);
  const html = await response.clone().text();
  await cache.put(url.pathname, response);
  for (const match of html.matchAll(/<link[^>]+href="(\/bilans\/echelle-\d+\.css)"/g)) {
    try {
      const css = await fetch(match[1], { credentials: "same-origin" });
      if (css.ok) await cache.put(match[1], css);
    } catch (error) {
      /* the page still opens, uncoloured */
    }
  }
  return { ok: true };
}

async function keptPages() {
  const cache = await caches.open(CACHE.pages);
  return (await cache.keys())
    .map((request) => new URL(request.url).pathname)
    .filter((path) => keepable(path));
}

async function refreshKeptPages() {
  for (const path of await keptPages()) await keepPage(path);
}

async function forgetPages() {
  const cache = await caches.open(CACHE.pages);
  for (const request of await cache.keys()) {
    if (new URL(request.url).pathname !== CONFIG.offline) await cache.delete(request);
  }
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  const reply = (answer) => event.ports && event.ports[0] && event.ports[0].postMessage(answer);
  let work;
  if (data.type === "keep" && typeof data.url === "string") work = keepPage(data.url);
  else if (data.type === "forget-pages") work = forgetPages().then(() => ({ ok: true }));
  else return;
  event.waitUntil(work.then(reply, () => reply({ ok: false, reason: "error" })));
});

// Background Sync: send the outbox when the network returns (even with no page open). A
// failure that may pass (no network, a server error) is thrown so the browser tries again
// later; a session to renew is left to the page, which asks the user to sign in.
self.addEventListener("sync", (event) => {
  if (event.tag !== self.PasserelleOutbox.TAG) return;
  event.waitUntil(
    self.PasserelleOutbox.flush({ source: "service-worker" }).then(async (result) => {
      if (result.receipts && result.receipts.length) await refreshKeptPages();
      if (result.status === "offline" || result.status === "error") {
        throw new Error(`outbox not sent: ${result.status}`);
      }
    }),
  );
});

// Web Push (issue 16): the server sends {title, body, url}; a tap opens that page.
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Passerelle", {
      body: data.body || "",
      icon: "/static/icons/icon-192.png",
      data: { url: data.url || "/" },
      lang: "fr",
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil(
    (async () => {
      for (const client of await self.clients.matchAll({ type: "window" })) {
        if (new URL(client.url).pathname === target.pathname && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(target.pathname + target.search);
    })(),
  );
});
