// The procedure's diagram (bpmn-js viewer, served locally) with, on each element, how many of
// the period's cases passed and their median time; clicking an element lists its cases.
(function () {
  "use strict";
  var container = document.getElementById("heatmap");
  if (!container) { return; }
  window.Cauce.showDiagram(container, container.getAttribute("data-src"),
    container.getAttribute("data-error"), function (viewer) {
      var heat = JSON.parse(container.getAttribute("data-heat"));
      var casesLabel = container.getAttribute("data-cases-label");
      var daysLabel = container.getAttribute("data-days-label");
      var most = heat.reduce(function (top, cell) { return Math.max(top, cell.cases); }, 0) || 1;
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var overlays = viewer.get("overlays");
      heat.forEach(function (cell) {
        if (!registry.get(cell.id)) { return; }
        var share = cell.cases / most;
        var badge = document.createElement("a");
        badge.href = cell.url;
        badge.className = "heat-badge " + (share < 0.34 ? "low" : share < 0.67 ? "mid" : "high");
        badge.textContent = cell.cases + " " + casesLabel +
          (cell.median ? " · " + cell.median + " " + daysLabel : "");
        badge.setAttribute("data-element", cell.id);
        overlays.add(cell.id, { position: { top: -12, left: 0 }, html: badge });
      });
      var byId = {};
      heat.forEach(function (cell) { byId[cell.id] = cell; });
      viewer.get("eventBus").on("element.click", function (event) {
        var cell = byId[event.element.id];
        if (cell) { window.location.href = cell.url; }
      });
      canvas.zoom("fit-viewport");
      container.setAttribute("data-ready", "true");
    });
})();
