// Passerelle — the offline outbox (SPEC F7), shared by the pages (offline.js) and the service
// worker (importScripts), exposed as self.PasserelleOutbox.
//
// Every change made without network is an entry in IndexedDB ("passerelle" › "outbox", key:
// the change's UUID), kept per user. `flush()` sends them to POST /api/sync with a CSRF token
// fetched just before (GET /api/csrf), and deletes an entry ONLY when a receipt names its
// UUID: a network error, a 401, a 5xx, a redirect or an answer that is not JSON keep them all.
//
// - One entry per item waits at a time: a new change to the same item replaces an entry
//   that was never sent (same base version, a new UUID), so the device never conflicts with
//   itself. An entry that was sent (its answer may have been lost) is kept and the new change
//   queued after it; a batch carries at most one entry per item, and the receipt of the first
//   re-bases the next on the version it produced.
// - Sends are serialised across tabs and the worker with the Web Locks API when available;
//   the server de-duplicates by UUID anyway (Background Sync and the page's `online` handler
//   may both fire when the network returns).
// - Every change to the outbox is announced on the BroadcastChannel "passerelle-outbox".
(function (scope) {
  "use strict";

  var DB_NAME = "passerelle";
  var DB_VERSION = 1;
  var STORE = "outbox";
  var TAG = "passerelle-outbox"; // Background Sync tag
  var LOCK = "passerelle-outbox-send";
  var MAX_BATCH = 100;
  var MAX_ROUNDS = 25;
  var channel = "BroadcastChannel" in scope ? new scope.BroadcastChannel(TAG) : null;
  var dbPromise = null;

  function open() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      var request = scope.indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: "uuid" });
      };
      request.onsuccess = function () {
        var db = request.result;
        db.onversionchange = function () { db.close(); dbPromise = null; };
        resolve(db);
      };
      request.onerror = function () { dbPromise = null; reject(request.error); };
      request.onblocked = function () { dbPromise = null; reject(new Error("IndexedDB blocked")); };
    });
    return dbPromise;
  }

  // Run `work(store, done)` in one transaction; resolves with what `done` received once the
  // transaction has committed (so a caller never reports a change that was not written).
  function transaction(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result;
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error || new Error("aborted")); };
        work(tx.objectStore(STORE), function (value) { result = value; });
      });
    });
  }

  function sorted(entries) {
    return entries.sort(function (a, b) {
      return a.createdAt - b.createdAt || (a.uuid < b.uuid ? -1 : 1);
    });
  }

  function all() {
    return transaction("readonly", function (store, done) {
      store.getAll().onsuccess = function (event) { done(sorted(event.target.result || [])); };
    });
  }

  function pending(userId) {
    return all().then(function (entries) {
      return entries.filter(function (entry) { return entry.userId === userId; });
    });
  }

  // What a change is about: one assessment item, or one sheet.
  function target(entry) {
    return entry.type === "sheet"
      ? "s:" + entry.sheetId
      : "a:" + entry.assessmentId + ":" + entry.itemKey;
  }

  function announce(message) {
    if (channel) {
      try { channel.postMessage(message); } catch (e) { /* a closing context */ }
    }
  }

  // Queue a change. `entry`: {userId, type: "assessment_item", assessmentId, itemKey, value,
  // baseVersion} or {userId, type: "sheet", sheetId, fields, baseUpdatedAt}, plus optional
  // {label, valueText, page}. UUID, device time and bookkeeping are added here.
  function add(entry) {
    entry.uuid = entry.uuid || makeUuid();
    entry.deviceTime = entry.deviceTime || deviceTime(new Date());
    entry.createdAt = entry.createdAt || Date.now();
    entry.attempts = 0;
    entry.error = null;
    var key = target(entry);
    return transaction("readwrite", function (store, done) {
      store.getAll().onsuccess = function (event) {
        (event.target.result || []).forEach(function (old) {
          if (old.userId !== entry.userId || target(old) !== key || old.attempts > 0) return;
          // Never sent: the new change takes its place, on the base the device saw first.
          if (entry.type === "sheet") {
            entry.fields = Object.assign({}, old.fields, entry.fields);
            entry.baseUpdatedAt = old.baseUpdatedAt;
          } else {
            entry.baseVersion = old.baseVersion;
          }
          store.delete(old.uuid);
        });
        store.put(entry);
        done(entry);
      };
    }).then(function (saved) {
      announce({ type: "queued", userId: entry.userId, uuid: saved.uuid });
      return saved;
    });
  }

  // Explicit user action only: forget this user's waiting changes (all, or those listed).
  function discard(userId, uuids) {
    return transaction("readwrite", function (store, done) {
      store.getAll().onsuccess = function (event) {
        var removed = 0;
        (event.target.result || []).forEach(function (entry) {
          if (entry.userId !== userId || (uuids && uuids.indexOf(entry.uuid) < 0)) return;
          store.delete(entry.uuid);
          removed += 1;
        });
        done(removed);
      };
    }).then(function (removed) {
      announce({ type: "discarded", userId: userId });
      return removed;
    });
  }

  function toWire(entry) {
    if (entry.type === "sheet") {
      return {
        uuid: entry.uuid, type: "sheet", sheet_id: entry.sheetId, fields: entry.fields,
        device_time: entry.deviceTime, base_updated_at: entry.baseUpdatedAt || null
      };
    }
    return {
      uuid: entry.uuid, type: "assessment_item", assessment_id: entry.assessmentId,
      item_key: entry.itemKey, value: entry.value, device_time: entry.deviceTime,
      base_version: typeof entry.baseVersion === "number" ? entry.baseVersion : null
    };
  }

  // The first waiting entry of each item (older ones first), skipping `skip` (uuid → true).
  function nextBatch(entries, skip) {
    var seen = {};
    var batch = [];
    for (var i = 0; i < entries.length && batch.length < MAX_BATCH; i++) {
      if (skip[entries[i].uuid]) continue; // already answered during this flush
      var key = target(entries[i]);
      if (seen[key]) continue;
      seen[key] = true;
      batch.push(entries[i]);
    }
    return batch;
  }

  function markSent(batch) {
    var ids = {};
    batch.forEach(function (entry) { ids[entry.uuid] = true; });
    return transaction("readwrite", function (store) {
      store.getAll().onsuccess = function (event) {
        (event.target.result || []).forEach(function (entry) {
          if (!ids[entry.uuid]) return;
          entry.attempts = (entry.attempts || 0) + 1;
          entry.lastAttempt = Date.now();
          store.put(entry);
        });
      };
    });
  }

  // Receipts delete their entries and re-base the item's next waiting change; errors are
  // written on their entries (kept, shown to the user).
  function settle(batch, receipts, errors) {
    var sent = {};
    batch.forEach(function (entry) { sent[entry.uuid] = entry; });
    return transaction("readwrite", function (store, done) {
      store.getAll().onsuccess = function (event) {
        var entries = event.target.result || [];
        var settled = [];
        receipts.forEach(function (receipt) {
          var entry = receipt && sent[receipt.uuid];
          if (!entry) return;
          store.delete(entry.uuid);
          settled.push(receipt);
          if (receipt.outcome !== "applied" && receipt.outcome !== "conflict") return;
          entries.forEach(function (next) {
            if (next.uuid === entry.uuid || next.userId !== entry.userId) return;
            if (target(next) !== target(entry)) return;
            if (entry.type === "sheet" && next.baseUpdatedAt === entry.baseUpdatedAt) {
              next.baseUpdatedAt = receipt.updated_at;
              store.put(next);
            } else if (entry.type !== "sheet" && next.baseVersion === entry.baseVersion) {
              next.baseVersion = receipt.version;
              store.put(next);
            }
          });
        });
        (errors || []).forEach(function (error) {
          var entry = error && sent[error.uuid];
          if (!entry) return;
          entry.error = { status: error.status, code: error.error, message: error.message };
          store.put(entry);
        });
        done(settled);
      };
    });
  }

  function getJson(response) {
    var type = response.headers.get("Content-Type") || "";
    if (response.type === "opaqueredirect" || type.indexOf("application/json") !== 0) {
      return Promise.resolve(null);
    }
    return response.json().catch(function () { return null; });
  }

  function fetchToken(headers) {
    return fetch("/api/csrf", {
      credentials: "same-origin", cache: "no-store", redirect: "manual",
      headers: Object.assign({ Accept: "application/json" }, headers || {})
    }).then(function (response) {
      return getJson(response).then(function (body) {
        if (response.status === 401) return { status: "auth" };
        if (!response.ok || !body || !body.csrf_token) return { status: "error" };
        return { status: "ok", token: body.csrf_token, userId: body.user_id };
      });
    }, function () {
      return { status: "offline" };
    });
  }

  function post(batch, token, headers) {
    return fetch("/api/sync", {
      method: "POST", credentials: "same-origin", cache: "no-store", redirect: "manual",
      headers: Object.assign({
        "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token
      }, headers || {}),
      body: JSON.stringify({ changes: batch.map(toWire) })
    }).then(function (response) {
      return getJson(response).then(function (body) {
        if (response.status === 401) return { status: "auth" };
        if (response.status === 400 && body && body.error === "csrf_failed") return { status: "csrf" };
        if (response.status !== 200 || !body || !Array.isArray(body.receipts)) {
          return { status: "error", httpStatus: response.status };
        }
        return { status: "ok", receipts: body.receipts, errors: body.errors || [] };
      });
    }, function () {
      return { status: "offline" };
    });
  }

  // Send what waits, for the signed-in user. options: {retryErrors: send entries the server
  // refused before too (the "Synchroniser" button), headers: extra request headers, source:
  // an id repeated in the "synced" announcement}.
  // Resolves {status: "empty"|"ok"|"offline"|"auth"|"error", receipts, errors, remaining}.
  function flush(options) {
    options = options || {};
    var locks = scope.navigator && scope.navigator.locks;
    var run = function () { return doFlush(options); };
    var done = locks && locks.request ? locks.request(LOCK, run) : run();
    return done.then(function (result) {
      announce({ type: "synced", status: result.status, receipts: result.receipts,
        errors: result.errors, userId: result.userId, source: options.source || null });
      return result;
    });
  }

  function doFlush(options) {
    var result = { status: "empty", receipts: [], errors: [], remaining: 0, userId: null };
    var skip = {};
    var token = null;
    var userId = null;

    function mine() {
      return all().then(function (entries) {
        return entries.filter(function (entry) {
          return entry.userId === userId && (options.retryErrors || !entry.error);
        });
      });
    }

    function round(count, csrfRetried) {
      if (count >= MAX_ROUNDS) return Promise.resolve();
      return mine().then(function (entries) {
        var batch = nextBatch(entries, skip);
        if (!batch.length) return null;
        return markSent(batch).then(function () {
          return post(batch, token, options.headers);
        }).then(function (answer) {
          if (answer.status === "csrf" && !csrfRetried) {
            return fetchToken(options.headers).then(function (fresh) {
              if (fresh.status !== "ok") { result.status = fresh.status; return null; }
              token = fresh.token;
              return round(count, true);
            });
          }
          if (answer.status !== "ok") {
            result.status = answer.status === "csrf" ? "error" : answer.status;
            return null;
          }
          result.status = "ok";
          batch.forEach(function (entry) { skip[entry.uuid] = true; });
          return settle(batch, answer.receipts, answer.errors).then(function (settled) {
            result.receipts = result.receipts.concat(settled);
            result.errors = result.errors.concat(answer.errors);
            return round(count + 1, false);
          });
        });
      });
    }

    return all().then(function (entries) {
      if (!entries.length) return result;
      return fetchToken(options.headers).then(function (auth) {
        if (auth.status !== "ok") {
          result.status = auth.status;
          return result;
        }
        token = auth.token;
        userId = result.userId = auth.userId;
        return round(0, false).then(function () {
          return pending(userId);
        }).then(function (left) {
          result.remaining = left.length;
          return result;
        });
      });
    }, function (error) {
      result.status = "error";
      result.error = String(error);
      return result;
    });
  }

  function makeUuid() {
    if (scope.crypto && scope.crypto.randomUUID) return scope.crypto.randomUUID();
    var b = scope.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // ISO 8601 with the device's UTC offset: "2026-06-10T14:03:05.120+02:00".
  function deviceTime(date) {
    function pad(n, w) { return ("000" + n).slice(-(w || 2)); }
    var offset = -date.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    var abs = Math.abs(offset);
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) +
      "." + pad(date.getMilliseconds(), 3) + sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }

  scope.PasserelleOutbox = {
    TAG: TAG,
    add: add,
    all: all,
    pending: pending,
    discard: discard,
    flush: flush,
    target: target,
    toWire: toWire,
    uuid: makeUuid,
    deviceTime: deviceTime
  };
})(self);
