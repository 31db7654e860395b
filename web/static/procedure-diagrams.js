// Procedure diagrams on the workshop's pages: one bpmn-js viewer per .procedure-diagram.
(function () {
  "use strict";
  var containers = document.querySelectorAll(".procedure-diagram");
  Array.prototype.forEach.call(containers, function (container) {
    window.Cauce.showDiagram(container, container.getAttribute("data-src"),
      container.getAttribute("data-error"), function (viewer) {
        viewer.get("canvas").zoom("fit-viewport");
        container.setAttribute("data-ready", "true");
      });
  });
})();
