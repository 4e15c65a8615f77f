// Live progress for sync runs: polls the run's JSON endpoint every 2 seconds
// while it is queued or running, and updates the page in place.
(function () {
  "use strict";
  function update(box, data) {
    var bar = box.querySelector("[data-progress-bar]");
    if (bar) {
      if (data.percent === null) { bar.removeAttribute("value"); } else { bar.value = data.percent; }
    }
    var text = box.querySelector("[data-progress-text]");
    // The words come from the page (data-of, data-suffix), translated there.
    if (text) { text.textContent = data.done + (data.total ? " " + (text.getAttribute("data-of") || "of") + " " + data.total : "") + (text.hasAttribute("data-suffix") ? " " + text.getAttribute("data-suffix") : ""); }
    var status = box.querySelector("[data-status]");
    if (status) { status.textContent = data.status_label; }
    var phase = box.querySelector("[data-phase]");
    if (phase) { phase.textContent = data.phase; }
    Object.keys(data.counts).forEach(function (key) {
      var cell = box.querySelector('[data-count="' + key + '"]');
      if (cell) { cell.textContent = data.counts[key]; }
    });
    ["started", "finished", "duration", "requests"].forEach(function (key) {
      var cell = box.querySelector('[data-text="' + key + '"]');
      if (cell && data[key] !== undefined) { cell.textContent = data[key]; }
    });
    var error = box.querySelector("[data-error]");
    if (error && data.error) { error.textContent = data.error; error.hidden = false; }
  }
  function poll(box) {
    fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        update(box, data);
        if (data.active) {
          box.setAttribute("data-was-active", "");
          setTimeout(function () { poll(box); }, 2000);
        } else if (box.hasAttribute("data-reload-when-done") || box.hasAttribute("data-was-active") ||
                   (box.hasAttribute("data-rendered-status") && box.getAttribute("data-rendered-status") !== data.status)) {
          // Ended since the page was rendered (also before the first poll): the server renders the truth.
          window.location.reload();  // show the finished run's full details
        }
      })
      .catch(function () { setTimeout(function () { poll(box); }, 5000); });
  }
  document.querySelectorAll("[data-progress-url]").forEach(poll);
})();
