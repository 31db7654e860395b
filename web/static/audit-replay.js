// The auditor's replay page: a case's steps on its diagram (bpmn-js viewer, served locally),
// a slider (and the ← → keys) to move through them, and what each step did beside it.
(function () {
  "use strict";
  var root = document.getElementById("replay");
  if (!root) { return; }
  var slider = document.getElementById("step");
  var label = document.getElementById("step-label");
  var panel = document.getElementById("step-panel");
  var timeline = document.getElementById("timeline");
  var holder = document.getElementById("replay-diagram");
  var docUrl = root.getAttribute("data-doc-url") || "/documentos/";
  var steps = [];
  var viewer = null;
  var current = -1;
  var PHONE_ZOOM = 0.7;
  var following = false;  // the viewport follows the current step (narrow screens)

  function t(name, values) {
    var text = root.getAttribute("data-t-" + name) || "";
    Object.keys(values || {}).forEach(function (key) {
      text = text.split("{" + key + "}").join(String(values[key]));
    });
    return text;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function shown(value) {
    if (value === null || value === undefined) { return "—"; }
    if (typeof value === "boolean") { return value ? t("yes") : t("no"); }
    if (typeof value === "object") {
      var text = JSON.stringify(value);
      return text.length > 400 ? text.slice(0, 400) + "…" : text;
    }
    return String(value);
  }

  function markDiagram(step) {
    if (!viewer) { return; }
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    overlays.remove({ type: "cauce-count" });
    var done = {}, active = {}, now = {};
    step.done.forEach(function (id) { done[id] = true; });
    step.active.forEach(function (id) { active[id] = true; });
    step.taken.forEach(function (id) { now[id] = true; });
    registry.getAll().forEach(function (element) {
      ["cauce-done", "cauce-active", "cauce-now", "cauce-taken"].forEach(function (marker) {
        canvas.removeMarker(element.id, marker);
      });
      if (element.waypoints) {
        var source = element.source && element.source.id;
        var target = element.target && element.target.id;
        if (done[source] && (done[target] || active[target])) {
          canvas.addMarker(element.id, "cauce-taken");
        }
        return;
      }
      if (active[element.id]) { canvas.addMarker(element.id, "cauce-active"); }
      else if (done[element.id]) { canvas.addMarker(element.id, "cauce-done"); }
      if (now[element.id]) { canvas.addMarker(element.id, "cauce-now"); }
      var count = step.counts[element.id] || 0;
      if (count > 1 && element.type !== "label") {
        var badge = el("span", "loop-badge", "×" + count);
        badge.setAttribute("data-element", element.id);
        overlays.add(element.id, "cauce-count", { position: { top: -12, right: 12 }, html: badge });
      }
    });
  }

  function follow(step) {
    if (!following) { return; }
    var registry = viewer.get("elementRegistry");
    var ids = step.taken.concat(step.active);
    var target = null;
    for (var i = ids.length - 1; i >= 0 && !target; i--) {
      var found = registry.get(ids[i]);
      if (found && !found.waypoints && found.width) { target = found; }
    }
    if (!target) { return; }
    var canvas = viewer.get("canvas");
    var box = canvas.viewbox();
    canvas.viewbox({ x: target.x + target.width / 2 - box.width / 2,
      y: target.y + target.height / 2 - box.height / 2, width: box.width, height: box.height });
  }

  function section(title) {
    var box = el("section", "step-section");
    box.appendChild(el("h3", null, title));
    panel.appendChild(box);
    return box;
  }

  function renderPanel(step) {
    panel.textContent = "";
    var head = el("h2", "step-title", step.label + (step.activity_name ? " «" + step.activity_name + "»" : ""));
    panel.appendChild(head);
    var facts = el("dl", "step-facts");
    facts.appendChild(el("dt", null, "#"));
    facts.appendChild(el("dd", null, step.seq));
    facts.appendChild(el("dt", null, t("who")));
    facts.appendChild(el("dd", "step-actor", step.actor_name || step.actor || t("system")));
    if (step.role_name || step.role) {
      facts.appendChild(el("dt", null, t("role")));
      facts.appendChild(el("dd", "step-role", step.role_name || step.role));
    }
    facts.appendChild(el("dt", null, t("when")));
    var when = el("dd", "step-when");
    var time = el("time", null, step.when);
    time.setAttribute("datetime", step.at);
    when.appendChild(time);
    facts.appendChild(when);
    panel.appendChild(facts);
    if (step.deadline) {
      var d = step.deadline;
      var box = section(t("deadline"));
      var text = d.overdue ? t("overdue", { days: -d.left, due: d.due })
        : t("deadline-text", { elapsed: d.elapsed, limit: d.limit, left: d.left, due: d.due });
      box.appendChild(el("p", "step-deadline" + (d.overdue ? " overdue" : ""), text));
    }
    if (step.submitted_text && step.submitted_text.length) {
      // Labels and values as the case page writes them (from the procedure's forms).
      var sent = section(t("submitted"));
      var list = el("dl", "step-data");
      step.submitted_text.forEach(function (item) {
        var term = el("dt", null, item.label);
        term.setAttribute("data-key", item.key);
        list.appendChild(term);
        list.appendChild(el("dd", null, item.text));
      });
      sent.appendChild(list);
    }
    var changes = section(t("changes"));
    if (!step.changes.length) {
      changes.appendChild(el("p", "meta", t("nochanges")));
    } else {
      var ul = el("ul", "step-changes");
      step.changes.forEach(function (change) {
        var li = el("li", "change-" + change.kind);
        li.setAttribute("data-key", change.key);
        li.appendChild(el("strong", null, change.label || change.key));
        li.appendChild(el("span", "change-kind", " " + t(change.kind) + ": "));
        if (change.kind === "changed") {
          li.appendChild(el("del", null, change.before_text || shown(change.before)));
          li.appendChild(document.createTextNode(" → "));
          li.appendChild(el("ins", null, change.after_text || shown(change.after)));
        } else if (change.kind === "added") {
          li.appendChild(el("ins", null, change.after_text || shown(change.after)));
        } else {
          li.appendChild(el("del", null, change.before_text || shown(change.before)));
        }
        ul.appendChild(li);
      });
      changes.appendChild(ul);
    }
    if (step.documents.length) {
      var docs = section(t("documents"));
      var dl = el("ul", "step-documents");
      step.documents.forEach(function (doc) {
        var li = el("li");
        var a = el("a", null, doc.filename);
        a.href = docUrl + doc.sha256;
        li.appendChild(a);
        li.appendChild(el("span", "meta", " sha256 " + doc.sha256.slice(0, 12) + "…"));
        dl.appendChild(li);
      });
      docs.appendChild(dl);
    }
  }

  function go(index) {
    if (!steps.length) { return; }
    index = Math.max(0, Math.min(steps.length - 1, index));
    if (index === current) { return; }
    current = index;
    slider.value = String(index);
    var step = steps[index];
    label.textContent = t("step", { n: index + 1, total: steps.length });
    root.setAttribute("data-step", String(step.seq));
    Array.prototype.forEach.call(timeline.children, function (item, i) {
      item.classList.toggle("current", i === index);
      if (i === index) { item.setAttribute("aria-current", "step"); } else { item.removeAttribute("aria-current"); }
    });
    renderPanel(step);
    markDiagram(step);
    if (viewer) { follow(step); }
  }

  function buildTimeline() {
    timeline.textContent = "";
    steps.forEach(function (step, index) {
      var li = el("li");
      var button = el("button", "link", step.when + " · " + (step.actor_name || t("system")) + " · " +
        step.label + (step.activity_name ? " «" + step.activity_name + "»" : ""));
      button.type = "button";
      button.addEventListener("click", function () { go(index); });
      li.appendChild(button);
      timeline.appendChild(li);
    });
  }

  slider.addEventListener("input", function () { go(parseInt(slider.value, 10)); });
  document.getElementById("step-prev").addEventListener("click", function () { go(current - 1); });
  document.getElementById("step-next").addEventListener("click", function () { go(current + 1); });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target === slider) { return; }  // the slider moves itself (and fires "input")
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) { return; }
    if (event.key === "ArrowLeft") { go(current - 1); event.preventDefault(); }
    if (event.key === "ArrowRight") { go(current + 1); event.preventDefault(); }
  });

  function loadDiagram() {
    return window.Cauce.showDiagram(holder, root.getAttribute("data-diagram"),
      root.getAttribute("data-diagram-error"), function (shown) {
        var canvas = shown.get("canvas");
        canvas.zoom("fit-viewport");
        // On a phone the whole procedure would be too small to read: zoom in and follow the step.
        if (canvas.zoom() < PHONE_ZOOM && holder.clientWidth < 700) {
          canvas.zoom(PHONE_ZOOM);
          following = true;
        }
        viewer = shown;
      });
  }

  var data = fetch(root.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    });
  Promise.all([data, loadDiagram()])
    .then(function (results) {
      steps = results[0].steps;
      slider.max = String(Math.max(0, steps.length - 1));
      buildTimeline();
      go(0);
      root.setAttribute("data-ready", "true");
    })
    .catch(function () {
      panel.textContent = root.getAttribute("data-error");
    });
})();
