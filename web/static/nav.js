// On a phone the header's links fold behind a "Menú" button; without this script they simply
// wrap, so navigation never depends on it.
(function () {
  "use strict";
  var header = document.querySelector(".topbar");
  var button = header && header.querySelector(".menu-button");
  if (!button) { return; }
  header.classList.add("nav-collapsible");
  button.hidden = false;
  button.addEventListener("click", function () {
    var open = header.classList.toggle("nav-open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && header.classList.contains("nav-open")) {
      header.classList.remove("nav-open");
      button.setAttribute("aria-expanded", "false");
      button.focus();
    }
  });
})();
