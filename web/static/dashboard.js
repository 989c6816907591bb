// Herald's delivery dashboard: webhooks with their state, a live log of attempts fed by the
// deliveryLog subscription (graphql-transport-ws), request/response details, redelivery and a
// template preview. Plain DOM: every value from the server is set as text, never as HTML.
// What it shares with the incident page is in herald.js.
(function () {
  "use strict";
  var H = Herald, $ = H.$, el = H.el, gql = H.gql, notice = H.notice, fmtTime = H.fmtTime;
  var setBusy = H.setBusy, busyAttr = H.busyAttr, rerender = H.rerender;
  var MAX_ROWS = 500;

  var ATTEMPT = "fragment A on DeliveryAttempt { " + H.ATTEMPT_FIELDS +
    " webhook { id name status consecutiveFailures } delivery { id status incident { id title } } }";
  var HOOK = "fragment H on Webhook { id name status inactiveReason consecutiveFailures urls }";

  var ws = null;
  var unsubscribe = null;    // ends the live-log subscription
  var following = "";        // the webhook id the live log is subscribed to; "" for all
  var subSeq = 0, recentSeq = 0;
  var hooks = new Map();     // id → webhook
  var attempts = new Map();  // id → attempt
  var order = [];            // attempt ids, newest first
  var details = H.details(redeliver);

  // ---- session ----------------------------------------------------------------------------

  function start() {
    connect();
    return Promise.all([loadHooks(), loadRecent()]).then(preview);
  }

  function stop() {
    if (ws) ws.dispose();
    ws = null;
    unsubscribe = null;
    subSeq++;
    hooks.clear(); attempts.clear(); order = [];
    renderHooks(); renderLog();
  }

  // connect opens the websocket and subscribes to the live log.
  function connect() {
    if (ws) ws.dispose(); // which ends its subscription too
    unsubscribe = null;
    ws = H.live();
    subscribeLog();
  }

  // subscribeLog ends the current live-log subscription and starts one for the webhook picked
  // in the filter, or for all of them: the server filters, so the attempts of other webhooks
  // never reach the page. Anything the ended one still delivers is dropped.
  function subscribeLog() {
    if (unsubscribe) unsubscribe();
    unsubscribe = null;
    if (!ws) return;
    var seq = ++subSeq;
    following = $("f-webhook").value;
    var op = following ?
      { query: "subscription($webhookId: ID!) { deliveryLog(webhookId: $webhookId) { ...A } } " + ATTEMPT, variables: { webhookId: following } } :
      { query: "subscription { deliveryLog { ...A } } " + ATTEMPT };
    unsubscribe = ws.subscribe(op, {
      next: function (res) {
        if (seq !== subSeq) return;
        if (res.data && res.data.deliveryLog) addAttempt(res.data.deliveryLog, true);
        if (res.errors) notice("Live log: " + res.errors[0].message);
      },
      error: function (e) {
        if (seq !== subSeq) return;
        H.setLive("off", "disconnected");
        if (e && e.message) notice("Live log: " + e.message);
      },
      complete: function () {},
    });
  }

  // followed tells whether an attempt belongs in the log under its current subscription.
  function followed(a) {
    return !following || (a.webhook && a.webhook.id === following);
  }

  // filterByWebhook starts the log afresh for the webhook picked in the filter: a new
  // subscription and that webhook's recent deliveries.
  function filterByWebhook() {
    attempts.clear(); order = [];
    renderLog();
    subscribeLog();
    loadRecent().catch(function (e) { notice("Recent deliveries: " + e.message); });
  }

  // ---- webhooks ---------------------------------------------------------------------------

  function loadHooks() {
    return gql("{ webhooks { ...H } } " + HOOK).then(function (d) {
      hooks.clear();
      d.webhooks.forEach(function (w) { hooks.set(w.id, w); });
      renderHooks();
    });
  }

  function renderHooks() {
    var body = $("hooks").tBodies[0];
    var list = Array.from(hooks.values()).sort(function (a, b) { return a.name.localeCompare(b.name); });
    rerender(body, function () {
      body.replaceChildren();
      list.forEach(function (w) {
        var active = w.status === "ACTIVE";
        body.append(el("tr", { "data-webhook": w.id }, [
          el("td", { text: w.name }),
          el("td", {}, [el("span", { class: "badge " + (active ? "ok" : "bad"), text: active ? "active" : "inactive", title: w.inactiveReason || "" })]),
          el("td", { class: "num", text: String(w.consecutiveFailures) }),
          el("td", {}, [el("button", {
            type: "button", role: "switch", "aria-checked": String(active), class: "toggle",
            "aria-label": "Active: " + w.name, text: active ? "Active" : "Inactive",
            "data-focus": "switch:" + w.id, "data-busy": "switch:" + w.id, "aria-disabled": busyAttr("switch:" + w.id),
            onclick: function () { toggleHook(w); },
          })]),
          el("td", {}, testButtons(w)),
        ]));
      });
    });
    // The filter's options are rebuilt only when the webhooks change, not on every live
    // attempt, so that a keyboard user choosing one is not interrupted.
    var sel = $("f-webhook"), keep = sel.value;
    var names = JSON.stringify(list.map(function (w) { return [w.id, w.name]; }));
    if (sel.getAttribute("data-names") !== names) {
      sel.setAttribute("data-names", names);
      sel.replaceChildren(el("option", { value: "", text: "all" }));
      list.forEach(function (w) { sel.append(el("option", { value: w.id, text: w.name })); });
      sel.value = keep;
      if (sel.value !== keep) sel.value = "";
    }
    $("hooks-empty").hidden = hooks.size > 0;
  }

  function hookStatus(msg) { $("hooks-status").textContent = msg; }

  function toggleHook(w) {
    var key = "switch:" + w.id;
    if (H.isBusy(key)) return;
    setBusy(key, true);
    var op = hooks.get(w.id).status === "ACTIVE" ? "deactivateWebhook" : "activateWebhook";
    gql("mutation($id: ID!) { w: " + op + "(id: $id) { ...H } } " + HOOK, { id: w.id }).then(function (d) {
      setBusy(key, false);
      hooks.set(d.w.id, d.w);
      renderHooks();
      hookStatus(d.w.name + " is now " + d.w.status.toLowerCase() + ".");
    }).catch(function (e) { setBusy(key, false); hookStatus(w.name + ": " + e.message); });
  }

  // testButtons is one Test button per URL of the webhook: "Test" for a single URL, "Test 1",
  // "Test 2"… (the URL in the title and label) for several.
  function testButtons(w) {
    var urls = w.urls.length > 1 ? w.urls : [null];
    return urls.map(function (u, i) {
      var key = "test:" + w.id + (u === null ? "" : ":" + i);
      return el("button", {
        type: "button", class: "test", text: u === null ? "Test" : "Test " + (i + 1), title: u,
        "aria-label": "Send a test to " + w.name + (u === null ? "" : " at " + u),
        "data-focus": key, "data-busy": key, "aria-disabled": busyAttr(key),
        onclick: function () { testHook(w, u, i, key); },
      });
    });
  }

  // testHook sends a test to url (null: the webhook's only one), named "URL n" in the status.
  function testHook(w, url, i, key) {
    if (H.isBusy(key)) return;
    setBusy(key, true);
    var what = w.name + (url === null ? "" : " (URL " + (i + 1) + ")");
    hookStatus("Sending a test to " + what + "…");
    gql("mutation($id: ID!, $url: String) { testWebhook(id: $id, url: $url) { ...A } } " + ATTEMPT, { id: w.id, url: url }).then(function (d) {
      var a = d.testWebhook;
      if (followed(a)) addAttempt(a, true);
      hookStatus("Test to " + what + ": " + a.outcome.toLowerCase() + (a.response ? " (HTTP " + a.response.status + ")" : a.error ? " (" + a.error + ")" : "") + ".");
    }).catch(function (e) { hookStatus("Test to " + what + ": " + e.message); })
      .finally(function () { setBusy(key, false); });
  }

  // ---- live log ---------------------------------------------------------------------------

  // loadRecent adds the last 30 deliveries of the followed webhook (or of all) to the log; an
  // answer that arrives after the filter changed again is dropped.
  function loadRecent() {
    var seq = ++recentSeq;
    var q = "query($webhookId: ID) { deliveries(webhookId: $webhookId, first: 30) { edges { node { id status incident { id title } webhook { id name status consecutiveFailures }" +
      " attempts { " + H.ATTEMPT_FIELDS + " } } } } }";
    return gql(q, { webhookId: following || null }).then(function (d) {
      if (seq !== recentSeq) return;
      d.deliveries.edges.forEach(function (edge) {
        var n = edge.node;
        n.attempts.forEach(function (a) {
          a.webhook = n.webhook;
          a.delivery = { id: n.id, status: n.status, incident: n.incident };
          addAttempt(a, false);
        });
      });
      renderLog();
    });
  }

  function addAttempt(a, live) {
    if (a.webhook) {
      var w = hooks.get(a.webhook.id);
      if (w && live) {
        w.status = a.webhook.status;
        w.consecutiveFailures = a.webhook.consecutiveFailures;
        renderHooks();
      }
    }
    if (!attempts.has(a.id)) order.push(a.id);
    attempts.set(a.id, a);
    order.sort(function (x, y) { return attempts.get(y).startedAt.localeCompare(attempts.get(x).startedAt); });
    while (order.length > MAX_ROWS) attempts.delete(order.pop());
    if (live) renderLog(a.id);
  }

  // visible applies the outcome filter, which has no server argument; the webhook filter is
  // the subscription's.
  function visible(a) {
    var fo = $("f-outcome").value;
    return !fo || a.outcome === fo;
  }

  function renderLog(freshID) {
    var body = $("log").tBodies[0];
    var rows = order.map(function (id) { return attempts.get(id); }).filter(visible);
    rerender(body, function () {
      body.replaceChildren.apply(body, rows.map(function (a) { return logRow(a, a.id === freshID); }));
    });
    $("log-empty").hidden = rows.length > 0;
    $("log-count").textContent = rows.length + " of " + order.length + " attempts";
  }

  // logRow stays a table row (its cells keep their column headers): the keyboard reaches the
  // details through a real button in the first cell, a mouse through any cell.
  function logRow(a, fresh) {
    var inc = a.delivery && a.delivery.incident;
    var ok = a.outcome === "SUCCEEDED";
    return el("tr", { "data-attempt": a.id, class: fresh ? "fresh" : "", onclick: function () { openDetails(a.id); } }, [
      el("td", { class: "num" }, [el("button", {
        type: "button", class: "open", text: fmtTime(a.startedAt), title: a.startedAt, "aria-haspopup": "dialog",
        "aria-label": "Details of the attempt at " + fmtTime(a.startedAt) + " to " + (a.webhook ? a.webhook.name : "unsaved webhook") + ", " + a.outcome.toLowerCase(),
        "data-focus": "open:" + a.id,
        onclick: function (e) { e.stopPropagation(); openDetails(a.id); },
      })]),
      el("td", { text: a.webhook ? a.webhook.name : "(unsaved)" }),
      el("td", {}, [a.event.replace("INCIDENT_", "").toLowerCase(), a.test ? el("span", { class: "badge test", text: "test" }) : null]),
      el("td", {}, inc ? [H.incidentLink(inc.id, { "data-focus": "incident:" + a.id }), " · " + inc.title] : ["—"]),
      el("td", {}, [el("span", { class: "badge " + (ok ? "ok" : "bad"), text: ok ? "succeeded" : "failed", title: a.error || "" })]),
      el("td", { class: "num", text: a.response ? String(a.response.status) : (a.errorKind || "—").toLowerCase() }),
      el("td", { class: "num", text: a.durationMs + " ms" }),
      el("td", {}, [a.delivery ? el("button", {
        type: "button", class: "redeliver", text: "Redeliver", "aria-label": "Redeliver delivery " + a.delivery.id,
        "data-focus": "redeliver:" + a.id, "data-busy": "redeliver:" + a.delivery.id, "aria-disabled": busyAttr("redeliver:" + a.delivery.id),
        onclick: function (e) { e.stopPropagation(); redeliver(a); },
      }) : null]),
    ]);
  }

  function redeliver(a) {
    return H.redeliver(a.delivery.id).then(function (d) {
      if (!d) return;
      notice("");
      $("hooks-status").textContent = "Delivery " + d.id + " queued again; its attempt will appear in the log.";
    }).catch(function (e) { notice("Redeliver: " + e.message); });
  }

  function openDetails(id) { details.open(attempts.get(id)); }

  // ---- template preview -------------------------------------------------------------------

  var previewTimer = 0, previewSeq = 0;
  var places = { event: "", list: [] };
  var active = -1;

  function schedulePreview() {
    clearTimeout(previewTimer);
    $("t-state").textContent = "…";
    previewTimer = setTimeout(preview, 250);
  }

  function preview() {
    if (!H.signedIn()) return;
    var seq = ++previewSeq;
    var input = { bodyTemplate: $("t-body").value, contentType: $("t-type").value, event: $("t-event").value };
    gql("query($in: RenderPreviewInput!) { renderPreview(input: $in) { body errors { message line column } warnings truncated validJson } }", { in: input })
      .then(function (d) {
        if (seq !== previewSeq) return; // a newer keystroke won
        var p = d.renderPreview;
        $("t-errors").replaceChildren.apply($("t-errors"), p.errors.map(function (e) {
          return el("li", { text: "line " + e.line + ", column " + e.column + ": " + e.message });
        }).concat(p.warnings.map(function (w) { return el("li", { text: w }); })));
        $("t-out").textContent = p.body == null ? "" : p.body;
        $("t-state").textContent = p.errors.length ? "template has errors" :
          (p.validJson === false ? "rendered; not valid JSON" : p.validJson ? "rendered; valid JSON" : "rendered") + (p.truncated ? " (truncated)" : "");
      })
      .catch(function (e) { if (seq === previewSeq) $("t-state").textContent = e.message; });
  }

  function loadPlaceholders() {
    var ev = $("t-event").value;
    if (places.event === ev) return Promise.resolve(places.list);
    return gql("query($e: WebhookEvent) { placeholders(event: $e) { name description example } }", { e: ev }).then(function (d) {
      places = { event: ev, list: d.placeholders };
      return places.list;
    });
  }

  // openToken finds an unclosed "{{" before the caret and the text typed after it.
  function openToken() {
    var ta = $("t-body"), before = ta.value.slice(0, ta.selectionStart);
    var i = before.lastIndexOf("{{");
    if (i < 0 || before.indexOf("}}", i) >= 0) return null;
    var typed = before.slice(i + 2).replace(/^\{/, "");
    if (/[\s(){};"]/.test(typed)) return null;
    return { start: ta.selectionStart - typed.length, typed: typed };
  }

  function closePlaces() {
    $("t-places").hidden = true;
    $("t-body").setAttribute("aria-expanded", "false");
    $("t-body").removeAttribute("aria-activedescendant");
    active = -1;
  }

  var placesSeq = 0;
  function showPlaces() {
    if (!openToken()) { closePlaces(); return; }
    var seq = ++placesSeq;
    loadPlaceholders().then(function (list) {
      var tok = openToken(); // the text may have changed while the list loaded
      if (seq !== placesSeq) return;
      if (!tok) { closePlaces(); return; }
      var matches = list.filter(function (p) { return p.name.toLowerCase().indexOf(tok.typed.toLowerCase()) >= 0; }).slice(0, 50);
      var ul = $("t-places");
      ul.replaceChildren();
      if (!matches.length) { closePlaces(); return; }
      matches.forEach(function (p, i) {
        ul.append(el("li", {
          id: "place-" + i, role: "option", "aria-selected": "false", "data-name": p.name,
          onmousedown: function (e) { e.preventDefault(); insertPlace(p.name); },
        }, [el("code", { text: p.name }), " ", el("span", { class: "muted", text: "— " + p.description + (p.example ? " (e.g. " + p.example + ")" : "") })]));
      });
      ul.hidden = false;
      $("t-body").setAttribute("aria-expanded", "true");
      select(0);
    }).catch(function (e) { $("t-state").textContent = e.message; });
  }

  function select(i) {
    var items = $("t-places").children;
    if (!items.length) return;
    active = (i + items.length) % items.length;
    Array.from(items).forEach(function (li, j) { li.setAttribute("aria-selected", String(j === active)); });
    items[active].scrollIntoView({ block: "nearest" });
    $("t-body").setAttribute("aria-activedescendant", items[active].id);
  }

  function insertPlace(name) {
    var ta = $("t-body"), tok = openToken();
    if (!tok) return;
    var after = ta.value.slice(ta.selectionStart);
    var close = after.indexOf("}}") === 0 ? "" : "}}";
    ta.value = ta.value.slice(0, tok.start) + name + close + after;
    var caret = tok.start + name.length + close.length;
    ta.setSelectionRange(caret, caret);
    closePlaces();
    schedulePreview();
  }

  // ---- wiring -----------------------------------------------------------------------------

  $("f-webhook").addEventListener("change", filterByWebhook);
  $("f-outcome").addEventListener("change", function () { renderLog(); });
  // Closing the details (Escape, Close) gives focus back to the row they came from. The browser
  // does that itself unless the row was re-rendered while they were open; then focus is on
  // <body> and goes to the row's replacement, or to the log's filter if the row has gone.
  $("details").addEventListener("close", function () {
    var f = document.activeElement;
    if (f && f !== document.body && !$("details").contains(f)) return; // the user moved on
    var a = details.current();
    var b = a && $("log").querySelector('[data-focus="' + CSS.escape("open:" + a.id) + '"]');
    (b || $("f-webhook")).focus();
  });
  // The arrow keys move between the rows' details buttons, as in a list; Tab still visits every
  // row and its Redeliver button.
  $("log").tBodies[0].addEventListener("keydown", function (e) {
    if ((e.key !== "ArrowDown" && e.key !== "ArrowUp") || !e.target.classList.contains("open")) return;
    var tr = e.target.closest("tr");
    var next = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
    var b = next && next.querySelector("button.open");
    if (b) { e.preventDefault(); b.focus(); }
  });
  $("t-body").addEventListener("input", function () { schedulePreview(); showPlaces(); });
  $("t-body").addEventListener("keydown", function (e) {
    if ($("t-places").hidden) return;
    if (e.key === "ArrowDown") { e.preventDefault(); select(active + 1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); select(active - 1); }
    else if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); insertPlace($("t-places").children[active].getAttribute("data-name")); }
    else if (e.key === "Escape") { e.preventDefault(); closePlaces(); }
  });
  $("t-body").addEventListener("blur", closePlaces);
  $("t-event").addEventListener("change", schedulePreview);
  $("t-type").addEventListener("change", schedulePreview);

  H.session(start, stop);
})();
