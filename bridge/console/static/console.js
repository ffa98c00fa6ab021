// The console's only script: auto-refresh of the events list, select-all for dead letters, and
// watching replayed events until they finish. No framework, no build step, nothing from elsewhere.
(function () {
  "use strict";
  var TERMINAL = ["done", "dead", "ignored", "failed", "missing"];

  function autoRefresh() {
    var box = document.getElementById("auto-refresh");
    var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
    if (!box || !seconds) return;
    box.checked = window.localStorage.getItem("cstar-console-refresh") !== "off";
    box.addEventListener("change", function () {
      window.localStorage.setItem("cstar-console-refresh", box.checked ? "on" : "off");
    });
    window.setInterval(function () {
      var typing = document.activeElement && document.activeElement.form && document.activeElement.form.id === "filters";
      if (box.checked && !typing) window.location.reload();
    }, seconds * 1000);
  }

  function selectAll() {
    var all = document.getElementById("select-all");
    if (!all) return;
    all.addEventListener("change", function () {
      document.querySelectorAll("input.pick").forEach(function (c) { c.checked = all.checked; });
    });
  }

  function watch() {
    var note = document.getElementById("watch-note");
    var cells = document.querySelectorAll("[data-watch]");
    if (!note || !cells.length) return;
    var ids = Array.prototype.map.call(cells, function (c) { return c.getAttribute("data-watch"); });
    function poll() {
      fetch(note.getAttribute("data-status-url") + "?ids=" + encodeURIComponent(ids.join(",")),
            { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          cells.forEach(function (c) {
            var s = body.statuses[c.getAttribute("data-watch")] || "missing";
            c.textContent = s;
            c.className = "status st-" + s;
          });
          if (body.finished) { note.textContent = "Every replayed event has finished."; note.id = "watch-done"; }
          else window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () { autoRefresh(); selectAll(); watch(); });
})();
