// Task forms: what is required as the person fills the form, the error summary, file names.
// The server decides; this only shows in advance what it will ask for.
(function () {
  "use strict";

  function rawValue(form, name) {
    var checked = form.querySelector('[name="' + name + '"]:checked');
    if (checked) { return checked.value; }
    var field = form.querySelector('[name="' + name + '"]');
    if (field && field.type !== "radio" && field.type !== "checkbox") { return field.value.trim(); }
    return "";
  }

  // People write 1.234,5; a lone dot is a decimal point (as the server reads it).
  function asNumber(text) {
    var normal = text.replace(/\s/g, "");
    if (normal.indexOf(",") >= 0) { normal = normal.replace(/\./g, "").replace(",", "."); }
    return normal === "" || isNaN(Number(normal)) ? null : Number(normal);
  }

  function same(text, expected) {
    if (expected === true) { return text === "true"; }
    if (expected === false) { return text === "false"; }
    if (typeof expected === "number") { return asNumber(text) === expected; }
    return text === String(expected);
  }

  function holds(text, condition) {
    if (text === "") { return false; }
    if ("const" in condition && !same(text, condition["const"])) { return false; }
    if ("enum" in condition && !condition["enum"].some(function (v) { return same(text, v); })) {
      return false;
    }
    var bounded = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].filter(
      function (k) { return k in condition; });
    if (!bounded.length) { return true; }
    var number = asNumber(text);
    if (number === null) { return false; }
    return (!("minimum" in condition) || number >= condition.minimum) &&
      (!("maximum" in condition) || number <= condition.maximum) &&
      (!("exclusiveMinimum" in condition) || number > condition.exclusiveMinimum) &&
      (!("exclusiveMaximum" in condition) || number < condition.exclusiveMaximum);
  }

  function ownControls(field) {
    return Array.prototype.filter.call(
      field.querySelectorAll("input:not([type=hidden]):not([type=file]), select, textarea"),
      function (control) { return control.closest("[data-field]") === field; });
  }

  function ownMark(field) {
    var marks = Array.prototype.filter.call(field.querySelectorAll(".req-mark"),
      function (mark) { return mark.closest("[data-field]") === field; });
    return marks[0] || null;
  }

  function applyRequired(form) {
    form.querySelectorAll("[data-required-if]").forEach(function (field) {
      var alternatives = JSON.parse(field.getAttribute("data-required-if"));
      var required = alternatives.some(function (rule) {
        return Object.keys(rule).every(function (name) {
          return holds(rawValue(form, name), rule[name]);
        });
      });
      var mark = ownMark(field);
      if (mark) { mark.hidden = !required; }
      field.classList.toggle("is-required", required);
      ownControls(field).forEach(function (control) {
        control.required = required;
        if (control.type === "radio" || control.type === "checkbox") { return; }
        if (required) { control.setAttribute("aria-required", "true"); }
        else { control.removeAttribute("aria-required"); }
      });
    });
  }

  function showFileNames(input) {
    var pick = input.closest(".file-pick");
    var names = pick && pick.querySelector(".file-names");
    if (!names) { return; }
    var files = input.files ? Array.prototype.map.call(input.files, function (f) { return f.name; }) : [];
    names.textContent = files.length === 0 ? pick.dataset.none
      : files.length <= 3 ? files.join(", ") : files.length + " " + pick.dataset.many;
  }

  function focusField(id) {
    var target = document.getElementById(id);
    if (!target) { return false; }
    if (target.type === "file") { target = target.closest(".file-pick") || target; }
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-required-if]")) { return; }
      applyRequired(form);
      form.addEventListener("change", function () { applyRequired(form); });
      form.addEventListener("input", function () { applyRequired(form); });
    });
    document.querySelectorAll(".file-pick input[type=file]").forEach(function (input) {
      input.addEventListener("change", function () { showFileNames(input); });
    });
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
      summary.addEventListener("click", function (event) {
        var link = event.target.closest("a[href^='#']");
        if (link && focusField(link.getAttribute("href").slice(1))) { event.preventDefault(); }
      });
    }
  });
}());
