// One way to draw a procedure's diagram with the bpmn-js viewer (served locally), shared by the
// case, heat-map, workshop and replay pages so that fetching, importing and falling back to a
// message behave alike everywhere.
(function () {
  "use strict";
  window.Cauce = window.Cauce || {};

  // Draw the BPMN at `src` in `container`, then run `ready(viewer)`. Whatever fails on the way
  // (no bpmn-js, the fetch, the import, `ready` itself) leaves `errorText` in the container.
  // Resolves with the viewer, or with null when the diagram could not be shown.
  window.Cauce.showDiagram = function (container, src, errorText, ready) {
    if (!window.BpmnJS) {
      container.textContent = errorText;
      return Promise.resolve(null);
    }
    var viewer = new window.BpmnJS({ container: container });
    return fetch(src, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        if (ready) { ready(viewer); }
        return viewer;
      })
      .catch(function () {
        container.textContent = errorText;
        return null;
      });
  };
})();
