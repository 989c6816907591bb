// What Herald's dashboard and incident page share: building elements, the GraphQL call with
// the signed-in token, the sign-in bar, the live connection and the attempt details dialog.
// Plain DOM: every value from the server is set as text, never as HTML.
var Herald = (function () {
  "use strict";
  var TOKEN_KEY = "herald.token"; // shared with GraphiQL (same origin)
  var wsURL = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/query";

  // ATTEMPT_FIELDS are the fields of a DeliveryAttempt that its row and its details show.
  var ATTEMPT_FIELDS = "id number test outcome event startedAt durationMs error errorKind nextRetryAt remoteIp truncated" +
    " request { method url headers { name value } body } response { status headers { name value } body }";

  var $ = function (id) { return document.getElementById(id); };
  var token = "";
  var busy = new Set(); // keys ("test:ID", "switch:ID", "redeliver:ID") of requests under way

  // el builds an element; props with a null value are left out.
  function el(tag, props, children) {
    var e = document.createElement(tag);
    if (props) Object.keys(props).forEach(function (k) {
      if (props[k] == null) return;
      if (k === "text") e.textContent = props[k];
      else if (k === "class") e.className = props[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), props[k]);
      else e.setAttribute(k, props[k]);
    });
    (children || []).forEach(function (c) { if (c != null) e.append(c); });
    return e;
  }

  // Live attempts re-render the tables while a keyboard user may be in them. Each control that
  // is rebuilt carries data-focus, a key naming what it acts on, so that focus can move to its
  // replacement instead of falling back to <body>.
  function rerender(container, render) {
    var a = document.activeElement;
    var key = a && container.contains(a) ? a.getAttribute("data-focus") : null;
    render();
    if (!key) return;
    var again = container.querySelector('[data-focus="' + CSS.escape(key) + '"]');
    if (again && again !== document.activeElement) again.focus();
  }

  // setBusy marks the buttons of a request under way with aria-disabled rather than disabled:
  // a disabled button would lose keyboard focus to <body> while the request runs.
  function setBusy(key, on) {
    if (on) busy.add(key); else busy.delete(key);
    document.querySelectorAll('[data-busy="' + CSS.escape(key) + '"]').forEach(function (b) {
      if (on) b.setAttribute("aria-disabled", "true"); else b.removeAttribute("aria-disabled");
    });
  }

  function isBusy(key) { return busy.has(key); }
  function busyAttr(key) { return busy.has(key) ? "true" : null; }

  function notice(msg) {
    $("notice").textContent = msg || "";
    $("notice").hidden = !msg;
  }

  // gql runs one operation over HTTP; it rejects with the first error's message, and its
  // extensions.code as the error's code.
  function gql(query, variables) {
    return fetch("/query", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    }).then(function (r) { return r.json(); }).then(function (res) {
      if (res.errors && res.errors.length) {
        var e = new Error(res.errors[0].message);
        e.code = res.errors[0].extensions && res.errors[0].extensions.code;
        throw e;
      }
      return res.data;
    });
  }

  function fmtTime(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  // incidentLink links to an incident's page; a click on it does not select the row it is in.
  function incidentLink(id, props) {
    var p = { href: "/incidents/" + encodeURIComponent(id), text: id, onclick: function (e) { e.stopPropagation(); } };
    Object.keys(props || {}).forEach(function (k) { p[k] = props[k]; });
    return el("a", p);
  }

  // ---- session ----------------------------------------------------------------------------

  // tokenFromAddress takes a #token=… from the address (and removes it from there) when no
  // other token is saved. A saved token is never replaced by a link: someone else's link
  // would otherwise sign the user in to the sender's account unnoticed. It returns the
  // address's token when it was left unused, else "".
  function tokenFromAddress() {
    var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!m) return "";
    history.replaceState(null, "", location.pathname + location.search);
    var given = decodeURIComponent(m[1]), saved = localStorage.getItem(TOKEN_KEY);
    if (saved && saved !== given) return given;
    localStorage.setItem(TOKEN_KEY, given);
    return "";
  }

  // session runs the sign-in bar (#login, #session, #who, #logout) over the page's #app: the
  // token saved by any of Herald's pages (or given once as #token=… in the address) signs in
  // at once, else the token field waits for one. start(me) runs after each sign-in and returns
  // a promise; stop() runs on sign-out, before the sign-in form comes back.
  function session(start, stop) {
    function signIn(t) {
      token = t;
      return gql("{ me { name role } }").then(function (d) {
        localStorage.setItem(TOKEN_KEY, t);
        $("who").textContent = d.me.name + " (" + d.me.role.toLowerCase().replace("_", " ") + ")";
        $("login").hidden = true;
        $("session").hidden = false;
        $("app").hidden = false;
        notice("");
        return start(d.me);
      }).catch(function (e) {
        token = "";
        notice(e.code === "UNAUTHENTICATED" ? "That token was refused." : "Could not sign in: " + e.message);
        $("token").focus();
      });
    }

    function signOut() {
      localStorage.removeItem(TOKEN_KEY);
      token = "";
      stop();
      $("app").hidden = true;
      $("session").hidden = true;
      $("login").hidden = false;
      $("token").value = "";
      $("token").focus();
    }

    $("login").addEventListener("submit", function (e) {
      e.preventDefault();
      var t = $("token").value.trim();
      if (t) signIn(t);
    });
    $("logout").addEventListener("click", signOut);
    var unused = tokenFromAddress();
    var saved = localStorage.getItem(TOKEN_KEY);
    if (!saved) {
      $("token").focus();
      return;
    }
    signIn(saved).then(function () {
      if (!unused) return;
      if (signedIn()) {
        notice("The address held another API token, which was not used: you are still signed in as shown. Sign out first to sign in with it.");
      } else {
        // The saved token no longer works: the link's waits in the field for a click.
        $("token").value = unused;
        notice("The saved token was refused. The token from the address is in the field: sign in with it if you trust the link.");
      }
    });
  }

  function signedIn() { return token !== ""; }

  // ---- live connection --------------------------------------------------------------------

  function setLive(state, text) {
    var l = $("live");
    l.className = "live " + state;
    l.textContent = text;
  }

  // live opens a graphql-transport-ws client with the signed-in token, its state shown in
  // #live; graphql-ws reconnects with back-off, except after 4403, and then subscribes again
  // by itself.
  function live() {
    var t = token;
    return graphqlWs.createClient({
      url: wsURL,
      lazy: false,
      connectionParams: function () { return { Authorization: "Bearer " + t }; },
      retryAttempts: Infinity,
      shouldRetry: function (e) { return !(e && e.code === 4403); },
      on: {
        connecting: function () { setLive("", "connecting…"); },
        connected: function () { setLive("on", "live"); },
        closed: function (e) { setLive("off", e && e.code === 4403 ? "token refused" : "disconnected"); },
      },
    });
  }

  // redeliver queues a delivery again; it resolves with {id, status}, or with null when a
  // redelivery of it is already under way.
  function redeliver(deliveryID) {
    var key = "redeliver:" + deliveryID;
    if (busy.has(key)) return Promise.resolve(null);
    setBusy(key, true);
    return gql("mutation($id: ID!) { redeliver(deliveryId: $id) { id status } }", { id: deliveryID })
      .then(function (d) { return d.redeliver; })
      .finally(function () { setBusy(key, false); });
  }

  // ---- attempt details --------------------------------------------------------------------

  function kvRows(table, list) {
    table.replaceChildren();
    (list || []).forEach(function (h) { table.append(el("tr", {}, [el("td", { text: h.name }), el("td", { text: h.value })])); });
  }

  function pretty(body) {
    if (body == null || body === "") return "(empty body)";
    try { return JSON.stringify(JSON.parse(body), null, 2); } catch (e) { return body; }
  }

  // details adds the attempt details dialog (#details) to the page and returns what opens it.
  // An attempt carries its webhook ({id, name}) and delivery ({id, status, incident}) when it
  // has them; its Redeliver button calls onRedeliver(attempt).
  function details(onRedeliver) {
    var current = null;
    var dlg = el("dialog", { id: "details", "aria-labelledby": "d-title" }, [
      el("div", { class: "d-head" }, [
        el("h2", { id: "d-title", text: "Attempt" }),
        el("button", { id: "d-redeliver", type: "button", text: "Redeliver",
          onclick: function () { if (current && current.delivery) onRedeliver(current); } }),
        el("button", { id: "d-close", type: "button", text: "Close", onclick: function () { dlg.close(); } }),
      ]),
      el("p", { id: "d-summary" }),
      el("div", { class: "d-cols" }, [
        el("section", {}, [el("h3", { text: "Request" }), el("p", { id: "d-req-line", class: "mono" }),
          el("p", { id: "d-req-cut", class: "cut", hidden: "" }),
          el("table", { id: "d-req-h", class: "kv" }), el("pre", { id: "d-req-b", class: "out" })]),
        el("section", {}, [el("h3", { text: "Response" }), el("p", { id: "d-res-line", class: "mono" }),
          el("table", { id: "d-res-h", class: "kv" }), el("pre", { id: "d-res-b", class: "out" })]),
      ]),
    ]);
    document.body.append(dlg);

    function open(a) {
      current = a;
      var inc = a.delivery && a.delivery.incident;
      $("d-title").textContent = "Attempt " + a.number + " · " + (a.webhook ? a.webhook.name : "unsaved webhook");
      $("d-summary").textContent = [
        new Date(a.startedAt).toLocaleString(), a.event, inc ? inc.id + " " + inc.title : null,
        a.outcome.toLowerCase(), a.durationMs + " ms", a.remoteIp ? "to " + a.remoteIp : null,
        a.error ? "error: " + a.error : null, a.nextRetryAt ? "next retry " + new Date(a.nextRetryAt).toLocaleTimeString() : null,
      ].filter(Boolean).join(" · ");
      $("d-req-line").textContent = a.request.method + " " + a.request.url;
      // truncated covers the body, or the query string of a webhook that sends its data there.
      $("d-req-cut").textContent = a.request.body ? "body cut at the limit" : "query string cut at the limit";
      $("d-req-cut").hidden = !a.truncated;
      kvRows($("d-req-h"), a.request.headers);
      $("d-req-b").textContent = pretty(a.request.body);
      if (a.response) {
        $("d-res-line").textContent = "HTTP " + a.response.status;
        kvRows($("d-res-h"), a.response.headers);
        $("d-res-b").textContent = pretty(a.response.body);
      } else {
        $("d-res-line").textContent = "No response" + (a.error ? ": " + a.error : "");
        kvRows($("d-res-h"), []);
        $("d-res-b").textContent = "";
      }
      $("d-redeliver").hidden = !a.delivery;
      var key = a.delivery ? "redeliver:" + a.delivery.id : "";
      $("d-redeliver").setAttribute("data-busy", key);
      if (busy.has(key)) $("d-redeliver").setAttribute("aria-disabled", "true"); else $("d-redeliver").removeAttribute("aria-disabled");
      if (!dlg.open) dlg.showModal();
      $("d-close").focus();
    }

    return { open: open, current: function () { return current; } };
  }

  return {
    ATTEMPT_FIELDS: ATTEMPT_FIELDS,
    $: $, el: el, rerender: rerender, gql: gql, notice: notice, fmtTime: fmtTime, incidentLink: incidentLink,
    setBusy: setBusy, isBusy: isBusy, busyAttr: busyAttr,
    session: session, signedIn: signedIn, live: live, setLive: setLive,
    redeliver: redeliver, details: details,
  };
})();
