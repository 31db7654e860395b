// Small progressive enhancements; every form works without them.
(function () {
  "use strict";

  function valueOf(form, name) {
    var checked = form.querySelector('[name="' + name + '"]:checked');
    if (checked) { return checked.value; }
    var field = form.querySelector('[name="' + name + '"]');
    if (field && field.type !== "radio" && field.type !== "checkbox") { return field.value; }
    return "";
  }

  function asText(value) {
    if (value === true) { return "true"; }
    if (value === false) { return "false"; }
    return value === null || value === undefined ? "" : String(value);
  }

  // Fields shown only when another field has a given value (ui.json "show_if").
  function applyShowIf(form) {
    form.querySelectorAll("[data-show-if]").forEach(function (field) {
      var rule = JSON.parse(field.getAttribute("data-show-if"));
      var visible = Object.keys(rule).every(function (name) {
        return valueOf(form, name) === asText(rule[name]);
      });
      field.hidden = !visible;
    });
  }

  function renumber(group) {
    group.querySelectorAll(".rows > .group-row").forEach(function (row, index) {
      row.querySelectorAll("[name]").forEach(function (input) {
        input.name = input.name.replace(/-(\d+|__index__)-/, "-" + index + "-");
      });
      row.querySelectorAll("[id]").forEach(function (element) {
        element.id = element.id.replace(/-(\d+|__index__)-/, "-" + index + "-");
      });
      row.querySelectorAll("label[for]").forEach(function (label) {
        label.htmlFor = label.htmlFor.replace(/-(\d+|__index__)-/, "-" + index + "-");
      });
      row.querySelectorAll("[aria-describedby]").forEach(function (element) {
        element.setAttribute("aria-describedby", element.getAttribute("aria-describedby")
          .replace(/-(\d+|__index__)-/g, "-" + index + "-"));
      });
    });
  }

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  document.querySelectorAll("form.task-form").forEach(function (form) {
    applyShowIf(form);
    form.addEventListener("change", function () { applyShowIf(form); });
    form.querySelectorAll("fieldset.group").forEach(function (group) {
      group.querySelectorAll("noscript").forEach(function (node) { node.remove(); });
      var template = group.querySelector("template");
      group.querySelector(".add-row").addEventListener("click", function () {
        var rows = group.querySelector(".rows");
        rows.appendChild(template.content.cloneNode(true));
        renumber(group);
        var first = rows.lastElementChild.querySelector("input, select, textarea");
        if (first) { first.focus(); }
      });
      group.addEventListener("click", function (event) {
        if (event.target.classList.contains("remove-row")) {
          event.target.closest(".group-row").remove();
          renumber(group);
        }
      });
    });
  });
})();
