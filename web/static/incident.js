// Herald's incident page, where every payload's {{incident.url}} leads: the incident, and the
// webhook deliveries it caused with each attempt's request and response, kept current by the
// deliveryLog subscription of the incident's service. Plain DOM: every value from the server
// is set as text, never as HTML. What it shares with the dashboard is in herald.js.
(function () {
  "use strict";
  var H = Herald, $ = H.$, el = H.el, gql = H.gql;

  // The incident's deliveries are read newest first, PAGE at a time; at most MAX are listed.
  var PAGE = 50, MAX = 1000;

  var INCIDENT = "fragment I on Incident { id title description urgency status mappedWith alertSource" +
    " service { id name } team { id name } assignee { name } createdAt acknowledgedAt resolvedAt }";
  var DELIVERY = "fragment D on Delivery { id event status createdAt nextAttemptAt webhook { id name }" +
    " incident { id title } attempts { " + H.ATTEMPT_FIELDS + " } }";
  var STATUS = { TRIGGERED: "bad", ACKNOWLEDGED: "wait", RESOLVED: "ok" };
  var DELIVERY_STATUS = { SUCCEEDED: "ok", FAILED: "bad", PENDING: "wait", CANCELLED: "plain" };

  var id = incidentID();
  var incident = null;
  var deliveries = new Map(); // id → delivery, its attempts in order
  var listedAll = true;       // false when MAX deliveries were read and more remain
  var seq = 0;                // bumped by every sign-in and sign-out: answers to an older one are dropped
  var ws = null;
  var queued = "";            // the delivery whose redelivery #dl-status announces until its attempt arrives
  var details = H.details(redeliver);

  function incidentID() {
    var raw = location.pathname.slice("/incidents/".length);
    try { return decodeURIComponent(raw); } catch (e) { return raw; }
  }

  // ---- the incident -----------------------------------------------------------------------

  function start() {
    var s = ++seq;
    incident = null;
    deliveries.clear();
    queued = "";
    $("dl-status").textContent = "";
    return gql("query($id: ID!) { incident(id: $id) { ...I } } " + INCIDENT, { id: id }).then(function (d) {
      if (s !== seq) return;
      if (!d.incident) { failure({ code: "NOT_FOUND" }); return; }
      incident = d.incident;
      renderIncident();
      renderDeliveries();
      follow(s);
      return loadDeliveries(s);
    }, function (e) { if (s === seq) failure(e); });
  }

  function stop() {
    seq++;
    if (ws) ws.dispose();
    ws = null;
    if ($("details").open) $("details").close();
    incident = null;
    deliveries.clear();
    renderDeliveries();
  }

  // failure says why the incident is not shown: the API answers NOT_FOUND for an id it does not
  // know and FORBIDDEN for an incident of a team the caller is not in.
  function failure(e) {
    $("inc-error-text").textContent =
      e.code === "NOT_FOUND" ? "Incident " + id + " was not found. Check the link: it may be mistyped, or from another Herald." :
      e.code === "FORBIDDEN" ? "You may not see " + id + ": it belongs to a team you are not in. A team manager or an admin can add you to it." :
      "Could not load incident " + id + ": " + e.message;
    $("inc-error").hidden = false;
    $("incident").hidden = true;
    $("deliveries-panel").hidden = true;
    document.title = id + " · Herald";
  }

  function text(elID, value, none) {
    $(elID).textContent = value == null || value === "" ? (none || "—") : value;
  }

  function when(elID, iso) {
    $(elID).replaceChildren(iso ? el("time", { datetime: iso, text: new Date(iso).toLocaleString() }) : "—");
  }

  function badge(value, cls) {
    return el("span", { class: "badge " + (cls || "plain"), text: value.toLowerCase() });
  }

  function renderIncident() {
    var i = incident;
    $("inc-error").hidden = true;
    $("incident").hidden = false;
    $("deliveries-panel").hidden = false;
    document.title = i.id + " · " + i.title + " · Herald";
    $("inc-id").textContent = i.id;
    $("inc-title").textContent = i.title;
    $("inc-description").textContent = i.description || "";
    $("inc-description").hidden = !i.description;
    $("inc-status").replaceChildren(badge(i.status, STATUS[i.status]));
    text("inc-urgency", i.urgency.toLowerCase());
    text("inc-service", i.service.name);
    text("inc-team", i.team.name);
    text("inc-assignee", i.assignee && i.assignee.name, "unassigned");
    text("inc-source", i.alertSource);
    text("inc-mapped", i.mappedWith);
    when("inc-created", i.createdAt);
    when("inc-acknowledged", i.acknowledgedAt);
    when("inc-resolved", i.resolvedAt);
  }

  // ---- its deliveries ---------------------------------------------------------------------

  // loadDeliveries reads the incident's deliveries, a page at a time.
  function loadDeliveries(s) {
    $("dl-status").textContent = "Reading the deliveries of " + id + "…";
    function page(after) {
      var q = "query($id: ID!, $after: String) { incident(id: $id) { deliveries(first: " + PAGE + ", after: $after) {" +
        " pageInfo { hasNextPage endCursor } edges { node { ...D } } } } } " + DELIVERY;
      return gql(q, { id: id, after: after }).then(function (d) {
        if (s !== seq) return null;
        var c = d.incident.deliveries;
        c.edges.forEach(function (e) { put(e.node); });
        if (!c.pageInfo.hasNextPage) return true;
        if (deliveries.size >= MAX) return false;
        return page(c.pageInfo.endCursor);
      });
    }
    return page(null).then(function (all) {
      if (all === null) return;
      listedAll = all;
      renderDeliveries();
      $("dl-status").textContent = "";
    }).catch(function (e) {
      if (s === seq) $("dl-status").textContent = "Could not list the deliveries: " + e.message;
    });
  }

  // put keeps a delivery, its attempts linked to it and its webhook for the details dialog.
  // The attempts come in the order they were made, numbered on across redeliveries.
  function put(d) {
    d.attempts.forEach(function (a) {
      a.webhook = d.webhook;
      a.delivery = { id: d.id, status: d.status, incident: d.incident };
    });
    deliveries.set(d.id, d);
  }

  // follow subscribes to the attempts of the incident's service (those of GLOBAL and TEAM
  // webhooks about its incidents included): one of this incident's brings its delivery, and
  // the incident, whose change it may announce, again.
  function follow(s) {
    if (ws) ws.dispose();
    ws = H.live();
    ws.subscribe({
      query: "subscription($s: ID!) { deliveryLog(serviceId: $s) { id delivery { id incident { id } } } }",
      variables: { s: incident.service.id },
    }, {
      next: function (res) {
        if (s !== seq) return;
        if (res.errors) H.notice("Live updates: " + res.errors[0].message);
        var a = res.data && res.data.deliveryLog;
        if (!a || !a.delivery || !a.delivery.incident || a.delivery.incident.id !== id) return;
        if (a.delivery.id === queued) { queued = ""; $("dl-status").textContent = ""; }
        refresh(s, a.delivery.id);
      },
      error: function (e) {
        if (s !== seq) return;
        H.setLive("off", "disconnected");
        if (e && e.message) H.notice("Live updates: " + e.message);
      },
      complete: function () {},
    });
  }

  function refresh(s, deliveryID) {
    var q = "query($d: ID!, $i: ID!) { delivery(id: $d) { ...D } incident(id: $i) { ...I } } " + DELIVERY + " " + INCIDENT;
    return gql(q, { d: deliveryID, i: id }).then(function (d) {
      if (s !== seq) return;
      if (d.incident) { incident = d.incident; renderIncident(); }
      var fresh = !deliveries.has(deliveryID);
      if (d.delivery) put(d.delivery);
      renderDeliveries(fresh ? deliveryID : null);
    }).catch(function (e) { if (s === seq) H.notice("Live updates: " + e.message); });
  }

  function eventName(e) { return e.replace("INCIDENT_", "").toLowerCase(); }

  function renderDeliveries(freshID) {
    var list = Array.from(deliveries.values()).sort(function (x, y) {
      return y.createdAt.localeCompare(x.createdAt) || y.id.localeCompare(x.id);
    });
    var body = $("deliveries").tBodies[0];
    H.rerender(body, function () {
      body.replaceChildren.apply(body, list.map(function (d) { return row(d, d.id === freshID); }));
    });
    var n = list.length;
    $("dl-count").textContent = !incident ? "" :
      (n ? n + (n === 1 ? " delivery" : " deliveries") : "No webhook has sent anything about this incident yet.") +
      (listedAll ? "" : " Only the latest " + MAX + " are listed.");
  }

  // row is one delivery; its attempts' buttons open their details, a click anywhere else on
  // the row the last attempt's.
  function row(d, fresh) {
    var last = d.attempts[d.attempts.length - 1];
    return el("tr", { "data-delivery": d.id, class: fresh ? "fresh" : null, onclick: last ? function () { details.open(last); } : null }, [
      el("td", { class: "num" }, [el("time", { datetime: d.createdAt, title: new Date(d.createdAt).toLocaleString(), text: H.fmtTime(d.createdAt) })]),
      el("td", { text: eventName(d.event) }),
      el("td", { text: d.webhook.name }),
      el("td", {}, [badge(d.status, DELIVERY_STATUS[d.status])]),
      el("td", { class: "num attempts", text: String(d.attempts.length) }),
      el("td", {}, outcome(d, last)),
      el("td", { class: "opens" }, d.attempts.map(function (a, i) {
        var ok = a.outcome === "SUCCEEDED";
        return el("button", {
          type: "button", class: "open " + (ok ? "ok" : "bad"), text: "#" + (i + 1), title: H.fmtTime(a.startedAt), "aria-haspopup": "dialog",
          "aria-label": "Details of attempt " + (i + 1) + " of " + d.attempts.length + " to " + d.webhook.name + " at " + H.fmtTime(a.startedAt) + ", " + a.outcome.toLowerCase(),
          "data-focus": "open:" + a.id,
          onclick: function (e) { e.stopPropagation(); details.open(a); },
        });
      })),
    ]);
  }

  function outcome(d, a) {
    var next = d.status === "PENDING" && d.nextAttemptAt ? "next attempt " + H.fmtTime(d.nextAttemptAt) : null;
    if (!a) return ["none yet" + (next ? " · " + next : "")];
    var ok = a.outcome === "SUCCEEDED";
    var what = a.response ? "HTTP " + a.response.status : (a.errorKind || "no response").toLowerCase();
    return [
      el("span", { class: "badge " + (ok ? "ok" : "bad"), text: ok ? "succeeded" : "failed", title: a.error || null }),
      " " + [what, H.fmtTime(a.startedAt), next].filter(Boolean).join(" · "),
    ];
  }

  function redeliver(a) {
    H.redeliver(a.delivery.id).then(function (d) {
      if (!d) return;
      H.notice("");
      queued = d.id;
      $("dl-status").textContent = "Delivery " + d.id + " queued again; its attempt will appear here.";
      return refresh(seq, d.id);
    }).catch(function (e) { H.notice("Redeliver: " + e.message); });
  }

  // ---- wiring -----------------------------------------------------------------------------

  // Closing the details gives focus back to the attempt's button, re-rendered or not.
  $("details").addEventListener("close", function () {
    var f = document.activeElement;
    if (f && f !== document.body && !$("details").contains(f)) return; // the user moved on
    var a = details.current();
    var b = a && $("deliveries").querySelector('[data-focus="' + CSS.escape("open:" + a.id) + '"]');
    if (b) b.focus();
  });

  H.session(start, stop);
})();
