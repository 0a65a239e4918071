/* Passerelle service worker (SPEC F7), served at /service-worker.js so its scope is the
 * whole site. The server prepends `self.PASSERELLE = {version, precache, offline}`: the
 * version names the caches, so a release that changes any asset installs a new worker whose
 * activation drops the old caches.
 *
 * Requests are routed by type (ROUTES below, first match wins):
 *   /events/… (live streams) and /api/… (JSON, the page handles failures) — not touched;
 *   /static/… — cache first (URLs carry the asset version);
 *   page navigations — network first, then the cached copy of that page if it was kept for
 *   offline use (PAGE_CACHE_RULES), then the offline page.
 * htmx fragment requests and every non-GET request go straight to the network.
 */
"use strict";

const CONFIG = self.PASSERELLE || { version: "dev", precache: [], offline: "/hors-connexion" };
const PREFIX = "passerelle-";
const CACHE = {
  static: `${PREFIX}static-${CONFIG.version}`,
  pages: `${PREFIX}pages-${CONFIG.version}`,
};

// Pages kept in CACHE.pages after a successful online visit, so they open offline. Empty for
// now: the offline assessment adds its page here (each rule: a RegExp on the path).
const PAGE_CACHE_RULES = [];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const statics = await caches.open(CACHE.static);
      await statics.addAll(CONFIG.precache.map((url) => new Request(url, { cache: "reload" })));
      const pages = await caches.open(CACHE.pages);
      await pages.add(new Request(CONFIG.offline, { cache: "reload" }));
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
});

const ROUTES = [
  { name: "live", test: (url) => url.pathname.startsWith("/events/"), handle: null },
  { name: "api", test: (url) => url.pathname.startsWith("/api/"), handle: null },
  { name: "static", test: (url) => url.pathname.startsWith("/static/"), handle: cacheFirst },
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
  const response = await fetch(request);
  if (response.ok && response.type === "basic") await cache.put(request, response.clone());
  return response;
}

async function networkFirstPage(request, url) {
  const keep = PAGE_CACHE_RULES.some((rule) => rule.test(url.pathname));
  try {
    const response = await fetch(request);
    if (keep && response.ok && response.type === "basic") {
      const cache = await caches.open(CACHE.pages);
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const cache = await caches.open(CACHE.pages);
    const copy = keep ? await cache.match(request, { ignoreVary: true }) : undefined;
    return copy || (await cache.match(CONFIG.offline)) || Response.error();
  }
}
