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

  // -- catalogue pickers (services, org units, indicators) --------------------------------------

  // The field ``key`` beside ``input``: in the same row of a repeatable group, else at the
  // form's top level.
  function sibling(input, key) {
    var row = input.closest(".group-row");
    var found = null;
    (row || input.form).querySelectorAll('[data-field="' + key + '"]').forEach(function (field) {
      if (!found && (row || !field.closest(".group-row"))) { found = field; }
    });
    return found ? found.querySelector("input, select, textarea") : null;
  }

  // The catalogue entry a picker holds: the selected option, or the datalist option whose
  // code was typed or chosen.
  function chosenOption(picker) {
    if (picker.tagName === "SELECT") {
      return picker.value ? picker.options[picker.selectedIndex] : null;
    }
    var list = picker.list;
    if (!list || !picker.value) { return null; }
    var wanted = picker.value.trim();
    var found = null;
    Array.prototype.forEach.call(list.options, function (option) {
      if (!found && option.value === wanted) { found = option; }
    });
    return found;
  }

  // Fill ``<x>_name`` with the chosen entry's name when it is empty or still holds the name
  // filled in automatically before (what the person typed is never overwritten).
  function fillName(picker) {
    var target = picker.dataset.fillName && sibling(picker, picker.dataset.fillName);
    var option = chosenOption(picker);
    if (!target || !option) { return; }
    var name = option.getAttribute("data-name") || "";
    if (name && (target.value === "" || target.value === target.dataset.autoValue)) {
      target.value = name;
      target.dataset.autoValue = name;
    }
  }

  // Fields that hold what the chosen unit implies (its responsible position).
  function fillDerived(form) {
    form.querySelectorAll("[data-derived-from]").forEach(function (input) {
      var picker = sibling(input, input.getAttribute("data-derived-from"));
      if (!picker) { return; }
      var option = chosenOption(picker);
      input.value = option ? option.getAttribute("data-position") || "" : "";
    });
  }

  // Offer only the indicators of the unit chosen in the same form (all of them when none of
  // the catalogue's indicators belongs to it).
  function filterIndicators(form) {
    var unit = form.querySelector('select[data-catalogue="org_units"]');
    if (!unit) { return; }
    form.querySelectorAll("datalist").forEach(function (list) {
      if (!list.allOptions) {
        list.allOptions = Array.prototype.slice.call(list.options);
      }
      var code = unit.value;
      var belongs = function (option) {
        return (option.getAttribute("data-units") || "").split(" ").some(function (own) {
          return own === code || own.indexOf(code + ".") === 0;
        });
      };
      var offered = code ? list.allOptions.filter(belongs) : [];
      if (!offered.length) { offered = list.allOptions; }
      while (list.firstChild) { list.removeChild(list.firstChild); }
      offered.forEach(function (option) { list.appendChild(option); });
    });
  }

  function setUpPickers(form) {
    form.querySelectorAll(".picker[data-fill-name]").forEach(function (picker) {
      // A name that matches the current choice was filled for it: it may follow a new choice.
      var target = sibling(picker, picker.dataset.fillName);
      var option = chosenOption(picker);
      if (target && option && target.value === option.getAttribute("data-name")) {
        target.dataset.autoValue = target.value;
      }
    });
    fillDerived(form);
    filterIndicators(form);
    var react = function (event) {
      var picker = event.target;
      if (!picker.classList || !picker.classList.contains("picker")) { return; }
      if (picker.dataset.fillName) { fillName(picker); }
      if (picker.getAttribute("data-catalogue") === "org_units") {
        fillDerived(form);
        filterIndicators(form);
      }
    };
    form.addEventListener("change", react);
    form.addEventListener("input", react);
  }

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  document.querySelectorAll("form.task-form").forEach(function (form) {
    applyShowIf(form);
    form.addEventListener("change", function () { applyShowIf(form); });
    setUpPickers(form);
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
