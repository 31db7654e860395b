// Progress of a bulk case migration: polls its job until it is finished.
(function () {
  "use strict";
  var box = document.getElementById("migration-progress");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  function set(selector, value) {
    var node = box.querySelector(selector);
    if (node) { node.textContent = Number(value).toLocaleString("es-EC"); }
  }
  function poll() {
    fetch(box.getAttribute("data-url"), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (job) {
        bar.max = Math.max(job.total, 1);
        bar.value = job.done;
        set(".done", job.done); set(".total", job.total);
        set(".moved", job.moved); set(".refused", job.refused);
        if (job.finished) {
          box.querySelector(".state").textContent = box.getAttribute("data-finished-label");
          box.setAttribute("data-finished", "true");
        } else {
          window.setTimeout(poll, 700);
        }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  poll();
})();
