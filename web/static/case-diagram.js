// The case's diagram (bpmn-js viewer, served locally), with where the case is highlighted.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  if (!container) { return; }
  window.Cauce.showDiagram(container, container.getAttribute("data-src"),
    container.getAttribute("data-error"), function (viewer) {
      var active = JSON.parse(container.getAttribute("data-active"));
      var done = JSON.parse(container.getAttribute("data-done"));
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      done.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "cauce-done"); } });
      active.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "cauce-active"); } });
      canvas.zoom("fit-viewport", "auto");
      document.querySelectorAll("[data-zoom]").forEach(function (button) {
        button.addEventListener("click", function () {
          var how = button.getAttribute("data-zoom");
          if (how === "fit") { canvas.zoom("fit-viewport", "auto"); }
          else { canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8)); }
          container.setAttribute("data-zoom", String(Math.round(canvas.zoom() * 100)));
        });
      });
      container.setAttribute("data-zoom", String(Math.round(canvas.zoom() * 100)));
      container.setAttribute("data-ready", "true");
    });
})();
