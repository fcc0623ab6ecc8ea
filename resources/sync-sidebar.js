/*
 * The Sync sidebar tab (editor side). One card per channel (feed consumer or durable queue) with its
 * counts, state and lag; a count opens the matching items; an item opens its detail, its stored
 * OperationOutcome and its history from the audit log; dead letters can be retried or discarded one by
 * one or all matching a filter (after a confirmation that says how many); a held conflict shows both
 * versions side by side and keeps one. Everything is read and done over the permission-checked admin
 * API (openmrs-sync/...); the runtime's comms pings ("openmrs-sync/changed") only say that something
 * moved. Loaded by nodes/sync-sidebar/sync-sidebar.html; plain browser JavaScript (jQuery and RED are
 * the editor's).
 */
(function () {
  "use strict";
  var PLUGIN = "openmrs-sync-sidebar";
  var NS = "node-red-contrib-openmrs-sync/" + PLUGIN;
  var TOPIC = "openmrs-sync/changed";
  var TAB = "openmrs-sync";
  var PAGE = 50;

  function t(key, args) {
    return RED._(NS + ":sidebar." + key, args);
  }

  /** The admin API, relative to the editor (it lives on the admin root); errors carry the API's message. */
  function api(method, path, body) {
    return new Promise(function (resolve, reject) {
      $.ajax({
        url: "openmrs-sync/" + path,
        method: method,
        contentType: body ? "application/json" : undefined,
        data: body ? JSON.stringify(body) : undefined,
        dataType: "json",
        cache: false,
      })
        .done(resolve)
        .fail(function (xhr) {
          var j = xhr.responseJSON || {};
          reject(new Error(j.message || j.error || xhr.statusText || String(xhr.status)));
        });
    });
  }

  function query(o) {
    return Object.keys(o)
      .filter(function (k) {
        return o[k] !== undefined && o[k] !== null && o[k] !== "";
      })
      .map(function (k) {
        return encodeURIComponent(k) + "=" + encodeURIComponent(o[k]);
      })
      .join("&");
  }

  function ago(iso) {
    if (!iso) return t("never");
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return duration(s) + " " + t("ago");
  }

  function duration(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    if (s < 172800) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " d";
  }

  function el(tag, cls, text) {
    var e = $("<" + tag + ">");
    if (cls) e.addClass(cls);
    if (text !== undefined && text !== null) e.text(String(text));
    return e;
  }

  function pre(value) {
    return el("pre", "openmrs-sync-json", JSON.stringify(value, null, 2));
  }

  function fail(err) {
    RED.notify(t("failed", { error: err.message }), { type: "error", timeout: 6000 });
  }

  /** Asks before an action; resolves true when confirmed. */
  function confirm(text, action) {
    return new Promise(function (resolve) {
      var n = RED.notify(text, {
        modal: true,
        fixed: true,
        type: "warning",
        buttons: [
          {
            text: t("cancel"),
            click: function () {
              n.close();
              resolve(false);
            },
          },
          {
            text: action,
            class: "primary",
            id: "openmrs-sync-confirm",
            click: function () {
              n.close();
              resolve(true);
            },
          },
        ],
      });
    });
  }

  // ---- state -----------------------------------------------------------------------------------------

  var body; // the tab's scrolling content
  var views = []; // the stack of open views; the last one is shown
  var last = { channels: [], stores: [] };
  var refreshTimer = null;
  var refreshing = false;
  var again = false;

  function show(view) {
    views.push(view);
    render();
  }

  function back() {
    if (views.length > 1) views.pop();
    render();
  }

  function render() {
    var v = views[views.length - 1];
    body.empty();
    if (views.length > 1) {
      $('<a href="#" class="openmrs-sync-back"></a>')
        .append('<i class="fa fa-angle-left"></i> ')
        .append(el("span", null, t("back")))
        .on("click", function (e) {
          e.preventDefault();
          back();
        })
        .appendTo(body);
    }
    var box = el("div", "openmrs-sync-view openmrs-sync-view-" + v.kind).appendTo(body);
    v.draw(box).catch(function (err) {
      box.append(el("div", "openmrs-sync-error", t("failed", { error: err.message })));
    });
  }

  /**
   * Redraws the shown view: at once when the last redraw is 250 ms old, else when it is (at most four
   * times a second), one request at a time; a ping that comes while a request runs is kept for after it.
   */
  var lastRefresh = 0;
  function refreshSoon() {
    if (refreshTimer) return;
    if (refreshing) {
      again = true;
      return;
    }
    refreshTimer = setTimeout(
      function () {
        refreshTimer = null;
        refreshing = true;
        lastRefresh = Date.now();
        var v = views[views.length - 1];
        var done = function () {
          refreshing = false;
          if (again) {
            again = false;
            refreshSoon();
          }
        };
        (v.refresh ? v.refresh() : Promise.resolve()).then(done, done);
      },
      Math.max(0, lastRefresh + 250 - Date.now()),
    );
  }

  // ---- channels ----------------------------------------------------------------------------------------

  var GATES = {
    open: { cls: "running", icon: "fa-play" },
    paused: { cls: "paused", icon: "fa-pause" },
    "target-down": { cls: "waiting", icon: "fa-hourglass-half" },
    "store-fault": { cls: "fault", icon: "fa-exclamation-triangle" },
    stopped: { cls: "stopped", icon: "fa-stop" },
  };
  // Counts in the order shown; `status` opens items, `outcome` opens the audit of the channel.
  var COUNTS = [
    { key: "received" },
    { key: "queued", status: "queued" },
    { key: "inFlight" },
    { key: "sent", outcome: "ok" },
    { key: "filtered", outcome: "filtered" },
    { key: "retrying", status: "retrying", alert: "warn" },
    { key: "dead", status: "dead", alert: "error" },
    { key: "held", status: "held", alert: "warn" },
  ];

  function channelsView() {
    var box;
    var cards = {};
    function draw(b) {
      box = b;
      cards = {};
      return refresh();
    }
    function refresh() {
      return api("GET", "channels").then(function (r) {
        last = r;
        paint();
      });
    }
    // Cards and store headings are built once and then updated in place: a redraw (up to four a second
    // during a catch-up) must not replace the element under the admin's pointer, or clicks get lost.
    function paint() {
      if (!box) return;
      box.children(".openmrs-sync-empty").remove();
      if (!last.stores.length) {
        box.empty().append(el("div", "openmrs-sync-empty", t("no-stores")));
        cards = {};
        return;
      }
      var seen = {};
      var sections = {};
      last.stores.forEach(function (s) {
        var section = box.children('.openmrs-sync-store-section[data-store="' + s.id + '"]');
        if (!section.length) section = storeSection(s.id).appendTo(box);
        sections[s.id] = true;
        paintStore(section, s);
        var list = section.children(".openmrs-sync-channels");
        last.channels
          .filter(function (c) {
            return c.store === s.id;
          })
          .forEach(function (c) {
            seen[c.id] = true;
            var card = cards[c.id];
            if (!card) card = cards[c.id] = buildCard(c).appendTo(list);
            paintCard(card, c);
          });
      });
      Object.keys(cards).forEach(function (id) {
        if (!seen[id]) {
          cards[id].remove();
          delete cards[id];
        }
      });
      box.children(".openmrs-sync-store-section").each(function () {
        if (!sections[$(this).attr("data-store")]) $(this).remove();
      });
      if (!last.channels.length) box.append(el("div", "openmrs-sync-empty", t("no-channels")));
    }
    function storeSection(id) {
      var section = el("div", "openmrs-sync-store-section").attr("data-store", id);
      var head = el("div", "openmrs-sync-store").attr("data-store", id).appendTo(section);
      head.append(el("span", "openmrs-sync-store-name"));
      $('<a href="#" class="openmrs-sync-store-held"></a>')
        .on("click", function (e) {
          e.preventDefault();
          show(itemsView({ store: id, status: "held", title: section.data("name") }));
        })
        .appendTo(head);
      head.append(el("span", "openmrs-sync-store-error"));
      el("div", "openmrs-sync-channels").appendTo(section);
      return section;
    }
    function paintStore(section, s) {
      var head = section.children(".openmrs-sync-store");
      section.data("name", s.name);
      head.children(".openmrs-sync-store-name").text(s.name);
      head
        .children(".openmrs-sync-store-error")
        .text(s.open ? "" : s.error ? t("store-error", { error: s.error }) : t("store-opening"))
        .toggle(!s.open);
      head
        .children(".openmrs-sync-store-held")
        .text(t("store-held", { n: s.held }))
        .toggle(s.held > 0);
    }
    function buildCard(c) {
      var card = el("div", "openmrs-sync-channel").attr("data-channel", c.id);
      var title = el("div", "openmrs-sync-channel-title").appendTo(card);
      title.append($('<i class="fa"></i>').addClass(c.kind === "queue" ? "fa-database" : "fa-rss"));
      title.append(el("span", "openmrs-sync-channel-name"));
      title.append(el("span", "openmrs-sync-channel-category"));
      el("span", "openmrs-sync-state").append('<i class="fa"></i> ').append(el("span", "openmrs-sync-state-text")).appendTo(title);
      var grid = el("div", "openmrs-sync-counts").appendTo(card);
      COUNTS.forEach(function (k) {
        var tile = el("div", "openmrs-sync-count").attr("data-count", k.key).appendTo(grid);
        tile.append(el("span", "openmrs-sync-count-n")).append(el("span", "openmrs-sync-count-label", t("count." + k.key)));
        if (!k.status && !k.outcome) return;
        tile.addClass("openmrs-sync-link").attr("tabindex", 0);
        tile.on("click keydown", function (e) {
          if (e.type === "keydown" && e.key !== "Enter") return;
          var row = card.data("row");
          if (k.status) show(itemsView({ store: row.store, channel: row.id, status: k.status, title: row.name }));
          else show(auditView({ store: row.store, channel: row.id, outcome: k.outcome, title: row.name }));
        });
      });
      var facts = el("div", "openmrs-sync-facts").appendTo(card);
      facts.append(el("div", "openmrs-sync-lag")).append(el("div", "openmrs-sync-last-ok")).append(el("div", "openmrs-sync-last-error"));
      return card;
    }
    function paintCard(card, c) {
      var g = GATES[c.gate] || GATES.open;
      card.data("row", c).attr("data-gate", c.gate);
      card.find(".openmrs-sync-channel-name").text(c.name);
      card
        .find(".openmrs-sync-channel-category")
        .text(c.category || "")
        .toggle(!!c.category && c.category !== c.name);
      var state = card.find(".openmrs-sync-state");
      state.attr("class", "openmrs-sync-state openmrs-sync-state-" + g.cls).attr("title", c.gateReason || null);
      state.children("i").attr("class", "fa " + g.icon);
      state.children(".openmrs-sync-state-text").text(t("gate." + c.gate));
      COUNTS.forEach(function (k) {
        var n = c.counts[k.key] || 0;
        var tile = card.find('[data-count="' + k.key + '"]');
        tile.children(".openmrs-sync-count-n").text(n);
        if (k.alert) tile.toggleClass("openmrs-sync-count-" + k.alert, n > 0);
      });
      card
        .find(".openmrs-sync-lag")
        .text(c.lag ? (c.lag.entries ? t("lag", { entries: c.lag.entries, time: c.lag.seconds === null ? "?" : duration(c.lag.seconds) }) : t("lag-none")) : "")
        .toggle(!!c.lag);
      card.find(".openmrs-sync-last-ok").text(t("last-success", { when: ago(c.lastSuccess) }));
      card
        .find(".openmrs-sync-last-error")
        .text(c.lastError ? t("last-error", { error: c.lastError.text }) : "")
        .toggle(!!c.lastError);
    }
    return { kind: "channels", draw: draw, refresh: refresh };
  }

  // ---- items -----------------------------------------------------------------------------------------

  function itemsView(f) {
    var box;
    var record = f.record || "";
    var list = null;
    var shown = null;
    var more = null;
    function draw(b) {
      // A fresh box (the view is shown again): build it anew.
      box = b;
      list = shown = more = null;
      return refresh();
    }
    function filter() {
      return { store: f.store, channel: f.channel, status: f.status, record: record };
    }
    function refresh() {
      return api("GET", "items?" + query(Object.assign(filter(), { limit: PAGE }))).then(function (r) {
        paint(r);
      });
    }
    // The heading, the search box and the buttons are built once; the list is rebuilt only when its items
    // changed, so a live update neither eats what the admin is typing nor the row being clicked.
    function paint(r) {
      if (!list) {
        box.empty();
        el("div", "openmrs-sync-title", t("items-title", { status: t("status." + f.status), channel: f.title || f.channel || "" })).appendTo(box);
        var search = $('<input type="text" class="openmrs-sync-search">').attr("placeholder", t("search")).val(record);
        search.on("keydown", function (e) {
          if (e.key !== "Enter") return;
          record = String(search.val()).trim();
          refresh().catch(fail);
        });
        el("div", "openmrs-sync-toolbar").append(search).appendTo(box);
        if (f.status === "dead") {
          var bulk = el("div", "openmrs-sync-toolbar").appendTo(box);
          bulkButton("retry").appendTo(bulk);
          bulkButton("discard").appendTo(bulk);
        }
        list = el("div", "openmrs-sync-items").appendTo(box);
      }
      var key = JSON.stringify(r);
      if (key === shown) return;
      shown = key;
      list.empty();
      if (more) more.remove();
      addRows(list, r);
    }
    function addRows(list, r) {
      if (!r.items.length && !list.children().length) list.append(el("div", "openmrs-sync-empty", t("no-items")));
      r.items.forEach(function (it) {
        var row = el("div", "openmrs-sync-item openmrs-sync-link").attr({ "data-item": it.id, tabindex: 0 }).appendTo(list);
        var top = el("div", "openmrs-sync-item-top").appendTo(row);
        top.append(el("span", "openmrs-sync-item-record", it.record || it.entry || it.id));
        top.append(el("span", "openmrs-sync-badge openmrs-sync-badge-" + it.status, t("status." + it.status)));
        var sub = el("div", "openmrs-sync-item-sub").appendTo(row);
        sub.append(el("span", null, t("attempts", { n: it.attempts })));
        if (it.nextAttempt) sub.append(el("span", null, t("next-attempt", { when: new Date(it.nextAttempt).toLocaleTimeString() })));
        if (it.error) el("div", "openmrs-sync-item-error", it.error).appendTo(row);
        row.on("click keydown", function (e) {
          if (e.type === "keydown" && e.key !== "Enter") return;
          show(it.status === "held" ? conflictView(f.store, it.id) : itemView(f.store, it.id));
        });
      });
      if (r.next) {
        more = $('<button type="button" class="red-ui-button openmrs-sync-more"></button>').text(t("more"));
        more.on("click", function () {
          more.remove();
          more = null;
          api("GET", "items?" + query(Object.assign(filter(), { limit: PAGE, cursor: r.next })))
            .then(function (p) {
              addRows(list, p);
            })
            .catch(fail);
        });
        list.after(more);
      }
    }
    function bulkButton(action) {
      var b = $('<button type="button" class="red-ui-button"></button>')
        .addClass("openmrs-sync-bulk-" + action)
        .text(t("bulk." + action));
      b.on("click", function () {
        var body = Object.assign(filter(), { dryRun: true });
        api("POST", "items/" + action, body)
          .then(function (r) {
            if (!r.matched) {
              RED.notify(t("bulk.none"), { timeout: 3000 });
              return;
            }
            return confirm(t("bulk.confirm-" + action, { n: r.matched }), t("bulk." + action)).then(function (yes) {
              if (!yes) return;
              delete body.dryRun;
              return api("POST", "items/" + action, body).then(function (done) {
                RED.notify(t("bulk.done-" + action, { n: done.affected }), { type: "success", timeout: 3000 });
                return refresh();
              });
            });
          })
          .catch(fail);
      });
      return b;
    }
    return { kind: "items", store: f.store, draw: draw, refresh: refresh };
  }

  // ---- one item ----------------------------------------------------------------------------------------

  var FIELDS = ["record", "status", "channel", "entry", "attempts", "reason", "error", "httpStatus", "enqueuedAt", "firstFailedAt", "deadAt", "nextAttempt"];

  function facts(box, item) {
    var table = el("table", "openmrs-sync-facts-table").appendTo(box);
    FIELDS.forEach(function (k) {
      if (item[k] === undefined || item[k] === null || item[k] === "") return;
      $("<tr>")
        .append(el("td", null, t("field." + k)))
        .append(el("td", null, item[k]))
        .appendTo(table);
    });
  }

  function itemView(store, id) {
    function draw(box) {
      return api("GET", "items/" + encodeURIComponent(id) + "?" + query({ store: store })).then(function (r) {
        var item = r.item;
        el("div", "openmrs-sync-title", item.record || id).appendTo(box);
        facts(box, item);
        if (item.status === "dead") {
          var bar = el("div", "openmrs-sync-toolbar").appendTo(box);
          ["retry", "discard"].forEach(function (action) {
            $('<button type="button" class="red-ui-button"></button>')
              .addClass("openmrs-sync-item-" + action)
              .text(t("item." + action))
              .on("click", function () {
                api("POST", "items/" + encodeURIComponent(id) + "/" + action, { store: store })
                  .then(function () {
                    RED.notify(t("item.done-" + action, { id: item.record || id }), { type: "success", timeout: 3000 });
                    back();
                  })
                  .catch(fail);
              })
              .appendTo(bar);
          });
        }
        content(box, item.content, function (c) {
          if (c.details) box.append(el("div", "openmrs-sync-subtitle", t("details"))).append(pre(c.details));
          if (c.operationOutcome) box.append(el("div", "openmrs-sync-subtitle", t("outcome"))).append(pre(c.operationOutcome));
          if (c.message) box.append(el("div", "openmrs-sync-subtitle", t("message"))).append(pre(c.message));
        });
        if (item.record) history(box, store, item.record);
      });
    }
    return { kind: "item", store: store, draw: draw };
  }

  /** Clinical content, or a note that the store's admin keeps it hidden. */
  function content(box, c, fill) {
    if (!c) return;
    if (c.hidden) box.append(el("div", "openmrs-sync-note", t("content-hidden")));
    else fill(c);
  }

  /** The record's audit rows, newest first: every attempt with its outcome. */
  function history(box, store, record) {
    var section = el("div", "openmrs-sync-history").appendTo(box);
    section.append(el("div", "openmrs-sync-subtitle", t("history")));
    return api("GET", "audit?" + query({ store: store, record: record, limit: 50 })).then(function (r) {
      if (!r.items.length) section.append(el("div", "openmrs-sync-empty", t("no-history")));
      r.items.forEach(function (a) {
        var row = el("div", "openmrs-sync-audit openmrs-sync-audit-" + a.outcome).appendTo(section);
        row.append(el("span", "openmrs-sync-audit-at", new Date(a.at).toLocaleString()));
        row.append(el("span", "openmrs-sync-badge", a.outcome));
        if (a.attempt) row.append(el("span", null, t("attempt", { n: a.attempt })));
        if (a.httpStatus) row.append(el("span", null, "HTTP " + a.httpStatus));
        if (a.error || a.reason) el("div", "openmrs-sync-item-error", a.error || a.reason).appendTo(row);
      });
    });
  }

  function auditView(f) {
    function draw(box) {
      el("div", "openmrs-sync-title", t("audit-title", { outcome: f.outcome, channel: f.title || f.channel })).appendTo(box);
      return api("GET", "audit?" + query({ store: f.store, channel: f.channel, outcome: f.outcome, limit: PAGE })).then(function (r) {
        if (!r.items.length) box.append(el("div", "openmrs-sync-empty", t("no-history")));
        r.items.forEach(function (a) {
          var row = el("div", "openmrs-sync-audit openmrs-sync-link").attr("tabindex", 0).appendTo(box);
          row.append(el("span", "openmrs-sync-item-record", a.record || a.entry || ""));
          row.append(el("span", "openmrs-sync-audit-at", new Date(a.at).toLocaleTimeString()));
          if (a.record)
            row.on("click", function () {
              show(recordView(f.store, a.record));
            });
        });
      });
    }
    return { kind: "audit", store: f.store, draw: draw };
  }

  function recordView(store, record) {
    return {
      kind: "record",
      store: store,
      draw: function (box) {
        el("div", "openmrs-sync-title", record).appendTo(box);
        return history(box, store, record);
      },
    };
  }

  // ---- conflicts -----------------------------------------------------------------------------------

  function conflictView(store, id) {
    function draw(box) {
      return api("GET", "conflicts/" + encodeURIComponent(id) + "?" + query({ store: store })).then(function (r) {
        var c = r.conflict;
        el("div", "openmrs-sync-title", t("conflict-title", { record: c.record })).appendTo(box);
        facts(box, { record: c.record, status: c.state, channel: c.detectedBy });
        content(box, c.content, function (v) {
          var sides = el("div", "openmrs-sync-sides").appendTo(box);
          [
            ["parent", v.parentVersion],
            ["child", v.childVersion],
          ].forEach(function (s) {
            el("div", "openmrs-sync-side")
              .attr("data-side", s[0])
              .append(el("div", "openmrs-sync-subtitle", t("side." + s[0])))
              .append(pre(s[1]))
              .appendTo(sides);
          });
        });
        if (c.state !== "held") return;
        var bar = el("div", "openmrs-sync-toolbar").appendTo(box);
        ["parent", "child"].forEach(function (use) {
          $('<button type="button" class="red-ui-button"></button>')
            .addClass("openmrs-sync-keep-" + use)
            .text(t("keep." + use))
            .on("click", function () {
              confirm(t("keep.confirm-" + use, { record: c.record }), t("keep." + use))
                .then(function (yes) {
                  if (!yes) return;
                  return api("POST", "conflicts/" + encodeURIComponent(id) + "/resolve", { store: store, use: use }).then(function () {
                    RED.notify(t("keep.done", { record: c.record }), { type: "success", timeout: 3000 });
                    back();
                  });
                })
                .catch(fail);
            })
            .appendTo(bar);
        });
      });
    }
    return { kind: "conflict", store: store, draw: draw };
  }

  // ---- hub keys ------------------------------------------------------------------------------------

  /**
   * A hub's keys, one per child clinic, per store: issue (the secret is shown here once), rotate, revoke,
   * and what each clinic last reported (health, last contact, why). admin API: openmrs-sync/keys.
   */
  function keysView() {
    var box;
    var secretBox;
    var pending = null; // the secret shown until the admin says done (kept across a redraw of the view)
    var lists = {};
    function draw(b) {
      box = b;
      lists = {};
      el("div", "openmrs-sync-title", t("keys.title")).appendTo(box);
      secretBox = el("div", "openmrs-sync-key-secret-box").appendTo(box).hide();
      if (pending) showSecret(pending.key, pending.how);
      var stores = last.stores.length ? last.stores : [];
      if (!stores.length)
        return api("GET", "channels").then(function (r) {
          last = r;
          if (!last.stores.length) box.append(el("div", "openmrs-sync-empty", t("no-stores")));
          else build();
          return refresh();
        });
      build();
      return refresh();
    }
    function build() {
      last.stores.forEach(function (s) {
        var section = el("div", "openmrs-sync-key-store").attr("data-store", s.id).appendTo(box);
        if (last.stores.length > 1) el("div", "openmrs-sync-store", s.name).appendTo(section);
        issueForm(s.id).appendTo(section);
        lists[s.id] = el("div", "openmrs-sync-keys").appendTo(section);
      });
    }
    function issueForm(store) {
      var form = el("div", "openmrs-sync-key-form");
      var name = $('<input type="text" class="openmrs-sync-key-name">').attr("placeholder", t("keys.name"));
      var locations = $('<input type="text" class="openmrs-sync-key-locations">').attr("placeholder", t("keys.locations"));
      var expression = $('<input type="text" class="openmrs-sync-key-expression">').attr("placeholder", t("keys.expression"));
      var issue = $('<button type="button" class="red-ui-button openmrs-sync-key-issue"></button>').text(t("keys.issue"));
      issue.on("click", function () {
        var catchment = {
          locations: String(locations.val())
            .split(/[\s,]+/)
            .filter(Boolean),
        };
        var expr = String(expression.val()).trim();
        if (expr) catchment.expression = expr;
        api("POST", "keys", { store: store, name: String(name.val()).trim(), catchment: catchment })
          .then(function (k) {
            name.val("");
            locations.val("");
            expression.val("");
            showSecret(k, "issued");
            return refresh();
          })
          .catch(fail);
      });
      form.append(name, locations, expression, el("div", "openmrs-sync-toolbar").append(issue));
      return form;
    }
    /** The secret, once: the API never gives it again. */
    function showSecret(k, how) {
      pending = { key: k, how: how };
      secretBox.empty().show();
      secretBox.append(el("div", "openmrs-sync-subtitle", t("keys.secret-" + how, { name: k.name })));
      $('<input type="text" readonly class="openmrs-sync-key-secret">').val(k.secret).appendTo(secretBox);
      secretBox.append(el("div", "openmrs-sync-note", t("keys.secret-once")));
      $('<button type="button" class="red-ui-button openmrs-sync-key-secret-done"></button>')
        .text(t("keys.secret-done"))
        .on("click", function () {
          pending = null;
          secretBox.empty().hide();
        })
        .appendTo(secretBox);
    }
    function refresh() {
      return Promise.all(
        Object.keys(lists).map(function (store) {
          return api("GET", "keys?" + query({ store: store })).then(function (r) {
            paint(lists[store], store, r.keys);
          });
        }),
      );
    }
    function paint(list, store, keys) {
      list.empty();
      if (!keys.length) list.append(el("div", "openmrs-sync-empty", t("keys.none")));
      keys.forEach(function (k) {
        var c = k.child || { health: "never" };
        var row = el("div", "openmrs-sync-key").attr({ "data-key": k.id, "data-state": k.state, "data-health": c.health }).appendTo(list);
        var top = el("div", "openmrs-sync-item-top").appendTo(row);
        top.append(el("span", "openmrs-sync-key-title", k.name));
        if (k.state !== "active") top.append(el("span", "openmrs-sync-badge openmrs-sync-badge-dead", t("keys.state." + k.state)));
        else top.append(el("span", "openmrs-sync-badge openmrs-sync-key-health openmrs-sync-health-" + c.health, t("keys.health." + c.health)));
        var sub = el("div", "openmrs-sync-item-sub").appendTo(row);
        sub.append(el("span", null, t("keys.last-contact", { when: ago(c.lastContact) })));
        sub.append(el("span", null, t("keys.last-seen", { when: ago(k.lastSeen) })));
        if (c.version) sub.append(el("span", null, t("keys.version", { version: c.version })));
        if (k.catchment && k.catchment.locations.length) sub.append(el("span", null, t("keys.catchment", { n: k.catchment.locations.length })));
        if (c.audit && c.audit.messages) sub.append(el("span", null, t("keys.audit", { n: c.audit.messages, failures: c.audit.failures })));
        if (c.why) el("div", "openmrs-sync-item-error openmrs-sync-key-why", c.why).appendTo(row);
        if (k.state !== "active") return;
        var bar = el("div", "openmrs-sync-toolbar").appendTo(row);
        $('<button type="button" class="red-ui-button openmrs-sync-key-rotate"></button>')
          .text(t("keys.rotate"))
          .on("click", function () {
            confirm(t("keys.confirm-rotate", { name: k.name }), t("keys.rotate"))
              .then(function (yes) {
                if (!yes) return;
                return api("POST", "keys/" + encodeURIComponent(k.id) + "/rotate?" + query({ store: store })).then(function (r) {
                  showSecret(r, "rotated");
                  return refresh();
                });
              })
              .catch(fail);
          })
          .appendTo(bar);
        $('<button type="button" class="red-ui-button openmrs-sync-key-revoke"></button>')
          .text(t("keys.revoke"))
          .on("click", function () {
            confirm(t("keys.confirm-revoke", { name: k.name }), t("keys.revoke"))
              .then(function (yes) {
                if (!yes) return;
                return api("DELETE", "keys/" + encodeURIComponent(k.id) + "?" + query({ store: store })).then(refresh);
              })
              .catch(fail);
          })
          .appendTo(bar);
      });
    }
    return { kind: "keys", draw: draw, refresh: refresh };
  }

  // ---- the tab -----------------------------------------------------------------------------------------

  function onChanged() {
    var v = views[views.length - 1];
    // Lists and channels follow the runtime; an open item stays as it is until it is opened again.
    if (v && (v.kind === "channels" || v.kind === "items" || v.kind === "keys")) refreshSoon();
  }

  function add() {
    var content = $('<div class="openmrs-sync-sidebar"></div>');
    var toolbar = $('<div class="openmrs-sync-sidebar-toolbar"></div>');
    $('<button type="button" class="red-ui-sidebar-header-button openmrs-sync-refresh"><i class="fa fa-refresh"></i></button>')
      .attr("title", t("refresh"))
      .on("click", function () {
        render();
      })
      .appendTo(toolbar);
    $('<button type="button" class="red-ui-sidebar-header-button openmrs-sync-home"><i class="fa fa-list"></i></button>')
      .attr("title", t("channels"))
      .on("click", function () {
        views = views.slice(0, 1);
        render();
      })
      .appendTo(toolbar);
    $('<button type="button" class="red-ui-sidebar-header-button openmrs-sync-keys-button"><i class="fa fa-key"></i></button>')
      .attr("title", t("keys.title"))
      .on("click", function () {
        views = views.slice(0, 1);
        show(keysView());
      })
      .appendTo(toolbar);
    body = content;
    views = [channelsView()];
    RED.sidebar.addTab({
      id: TAB,
      label: t("label"),
      name: t("name"),
      iconClass: "fa fa-exchange",
      content: content,
      toolbar: toolbar,
      enableOnEdit: true,
      onchange: function () {
        render();
      },
    });
    RED.comms.subscribe(TOPIC, onChanged);
    RED.actions.add("openmrs-sync:show-sync-tab", function () {
      RED.sidebar.show(TAB);
    });
  }

  function remove() {
    RED.comms.unsubscribe(TOPIC, onChanged);
    RED.sidebar.removeTab(TAB);
    RED.actions.remove("openmrs-sync:show-sync-tab");
  }

  RED.plugins.registerPlugin(PLUGIN, { onadd: add, onremove: remove });
})();
