// Fusebox dashboard live updates: one EventSource per page. Each event's
// data is a server-rendered fragment whose root element has a stable id;
// the element with that id is replaced. The page works without this script.
(function () {
  "use strict";
  // A range input's <output for=id> follows it, formatted as the server
  // formats it ("25 %", "0.5 %").
  Array.prototype.forEach.call(document.querySelectorAll('input[type="range"][id]'), function (input) {
    var out = document.querySelector('output[for="' + input.id + '"]');
    if (!out) {
      return;
    }
    input.addEventListener("input", function () {
      out.textContent = String(Math.round(parseFloat(input.value) * 10000) / 100) + " %";
    });
  });

  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }
  var url = live.getAttribute("data-events");
  var delay = 1000;
  var maxDelay = 30000;
  var source = null;

  function status(text, cls) {
    live.textContent = text;
    live.className = "live " + cls;
  }

  function swap(ev) {
    var tpl = document.createElement("template");
    tpl.innerHTML = ev.data;
    var next = tpl.content.firstElementChild;
    if (!next || !next.id) {
      return;
    }
    var cur = document.getElementById(next.id);
    if (cur) {
      cur.replaceWith(next);
    }
  }

  // The overview's list of pipelines: a tile whose pipeline left is
  // dropped; a pipeline without a tile came, and the page is reloaded to
  // show it in its place.
  function pipelines(ev) {
    var tpl = document.createElement("template");
    tpl.innerHTML = ev.data;
    var names = {};
    Array.prototype.forEach.call(tpl.content.querySelectorAll("li"), function (li) {
      names["tile-" + li.textContent] = true;
    });
    var shown = {};
    Array.prototype.forEach.call(document.querySelectorAll("section.tile[id^='tile-']"), function (tile) {
      if (names[tile.id]) {
        shown[tile.id] = true;
      } else {
        tile.remove();
      }
    });
    for (var id in names) {
      if (!shown[id]) {
        window.location.reload();
        return;
      }
    }
  }

  // The pipeline of this page left: the stream ends for good.
  function gone(ev) {
    source.close();
    status(ev.data, "live-off");
  }

  function connect() {
    source = new EventSource(url);
    source.onopen = function () {
      delay = 1000;
      status("live", "live-on");
    };
    ["nav", "tile", "scenarios", "header", "charts", "calls", "slo", "alerts"].forEach(function (name) {
      source.addEventListener(name, swap);
    });
    source.addEventListener("pipelines", pipelines);
    source.addEventListener("gone", gone);
    source.onerror = function () {
      source.close();
      status("reconnecting…", "live-retry");
      var wait = delay + Math.random() * delay / 2;
      delay = Math.min(delay * 2, maxDelay);
      window.setTimeout(connect, wait);
    };
  }

  status("connecting…", "live-retry");
  connect();
})();
