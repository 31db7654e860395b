// The case's diagram (bpmn-js viewer, served locally), with where the case is highlighted.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  if (!container) { return; }
  if (!window.BpmnJS) {
    container.textContent = container.getAttribute("data-error");
    return;
  }
  var viewer = new window.BpmnJS({ container: container });
  var active = JSON.parse(container.getAttribute("data-active"));
  var done = JSON.parse(container.getAttribute("data-done"));
  fetch(container.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      done.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "cauce-done"); } });
      active.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "cauce-active"); } });
      canvas.zoom("fit-viewport");
      container.setAttribute("data-ready", "true");
    })
    .catch(function () {
      container.textContent = container.getAttribute("data-error");
    });
})();
