// The process owner's editor (/procesos/<id>/editar): bpmn-js Modeler in Spanish with Cauce's
// properties, the linter and the server's check in one problems panel, autosave of the draft
// with conflict detection, publishing, play mode, dmn-js for decision tables, a form designer.
import './editor.css';
import BpmnModeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import MinimapModule from 'diagram-js-minimap';
import LintModule from 'bpmn-js-bpmnlint';
import lintConfig from 'cauce-lint-config';

import { ApiError, call, get } from './api.js';
import CauceProperties from './cauce-properties.js';
import KeepUnrenderedDi from './keep-unrendered-di.js';
import { FormDesigner } from './form-designer.js';
import { count, lineOf, ProblemsPanel } from './problems.js';
import spiffModdle from './spiff-moddle.js';
import TranslateEs, { translateEs } from './translate-es.js';
import { TrialPanel } from './trial.js';

const $ = (selector) => document.querySelector(selector);
const AUTOSAVE_MS = 1500;

const root = $('#editor');
const urls = { ...root.dataset };
const processId = root.dataset.process;

const state = {
  files: { bpmn: {}, dmn: {}, forms: {} },
  revision: null,
  current: null, // { kind: 'bpmn'|'dmn'|'forms', name }
  dirty: false,
  saving: null,
  conflict: false,
  checkMarkers: [],
  trialMarkers: [],
};
window.cauceEditor = { state }; // read by the browser tests

function status(text, kind = 'info') {
  const node = $('#editor-message');
  node.textContent = text;
  node.dataset.kind = kind;
}

function saveState(text) { $('#save-state').textContent = text; }

function hhmm(iso) {
  if (!iso) { return ''; }
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? iso
    : when.toLocaleTimeString('es-EC', { hour: '2-digit', minute: '2-digit' });
}

// -- catalog for the properties panel ------------------------------------------------------

const catalog = {
  roles: [], forms: [], processes: [], decisions: [],
  async vet(kind, text) {
    try { return await call('POST', urls.vetUrl, { kind, text }); } catch (failure) { return null; }
  },
  onNewForm: (element, done) => openNewFormDialog(done),
};

async function loadCatalog() {
  const q = `?process=${encodeURIComponent(processId)}`;
  const safe = async (url) => { try { return await get(url); } catch (failure) { return []; } };
  const [roles, forms, processes, decisions] = await Promise.all([
    safe(urls.rolesUrl + q), safe(urls.formsUrl + q), safe(urls.processesUrl), safe(urls.decisionsUrl + q)]);
  catalog.roles = roles;
  catalog.forms = (forms || []).map((f) => (typeof f === 'string' ? { file: f } : { file: f.file || f.filename || f.name, title: f.title }));
  catalog.processes = processes;
  catalog.decisions = (decisions || []).map((d) => (typeof d === 'string' ? { id: d } : d));
}

function refreshFormCatalog() {
  const known = new Map(catalog.forms.map((f) => [f.file, f]));
  for (const [file, form] of Object.entries(state.files.forms)) {
    known.set(file, { file, title: form.schema?.title || known.get(file)?.title });
  }
  catalog.forms = [...known.values()].sort((a, b) => a.file.localeCompare(b.file));
}

// -- the modeler ---------------------------------------------------------------------------

const modeler = new BpmnModeler({
  container: '#canvas',
  propertiesPanel: { parent: '#properties' },
  additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, MinimapModule,
    LintModule, TranslateEs, CauceProperties, KeepUnrenderedDi],
  moddleExtensions: { spiffworkflow: spiffModdle },
  linting: { bpmnlint: lintConfig, active: true },
  cauce: { catalog },
});
window.cauceEditor.modeler = modeler;

const problems = new ProblemsPanel($('#problems-list'), $('#problems-summary'), { onPick: pickProblem });

modeler.on('linting.completed', ({ issues }) => {
  const registry = modeler.get('elementRegistry');
  const file = state.current?.name;
  const xml = state.files.bpmn[file];
  const found = [];
  for (const [elementId, list] of Object.entries(issues || {})) {
    for (const issue of list) {
      const element = registry.get(elementId);
      found.push({ source: 'lint', file, element_id: elementId, line: lineOf(xml, elementId),
        severity: issue.category === 'error' ? 'error' : 'warning',
        element_name: element?.businessObject?.name || elementId,
        message: translateEs(issue.message) });
    }
  }
  problems.setLint(found);
});

modeler.on('commandStack.changed', ({ trigger }) => { if (trigger !== 'clear') { markDirty(); } });

async function exportCurrent() {
  const current = state.current;
  if (!current) { return; }
  if (current.kind === 'bpmn') {
    const { xml } = await modeler.saveXML({ format: true });
    state.files.bpmn[current.name] = xml;
  } else if (current.kind === 'dmn' && dmn) {
    const { xml } = await dmn.saveXML({ format: true });
    state.files.dmn[current.name] = xml;
  }
}

// -- files ---------------------------------------------------------------------------------

function mainBpmn() {
  const names = Object.keys(state.files.bpmn);
  return names.find((n) => n === `${processId}.bpmn`) || names.sort()[0];
}

function fillFileSelect() {
  const select = $('#editor-file');
  const groups = [['bpmn', 'Diagramas BPMN'], ['dmn', 'Tablas de decisión (DMN)'], ['forms', 'Formularios']];
  select.replaceChildren(...groups.filter(([kind]) => Object.keys(state.files[kind]).length).map(([kind, label]) => {
    const group = document.createElement('optgroup');
    group.label = label;
    for (const name of Object.keys(state.files[kind]).sort()) {
      const option = new Option(name, `${kind}:${name}`);
      option.selected = state.current?.kind === kind && state.current?.name === name;
      group.append(option);
    }
    return group;
  }));
}

let dmn = null;
const designer = new FormDesigner($('#form-designer'), (file, form) => {
  state.files.forms[file] = form;
  refreshFormCatalog();
  markDirty();
});

async function openFile(kind, name) {
  await exportCurrent();
  state.current = { kind, name };
  root.dataset.view = kind;
  $('#canvas-area').hidden = kind !== 'bpmn';
  $('#dmn-area').hidden = kind !== 'dmn';
  $('#form-designer').hidden = kind !== 'forms';
  if (kind === 'bpmn') {
    const { warnings } = await modeler.importXML(state.files.bpmn[name]);
    modeler.get('canvas').zoom('fit-viewport');
    modeler.get('commandStack').clear();
    if (warnings.length) { status(`Se abrió ${name} con ${warnings.length} avisos de importación.`, 'warning'); }
  } else if (kind === 'dmn') {
    if (!dmn) {
      const { default: DmnModeler } = await import('dmn-js/lib/Modeler');
      dmn = new DmnModeler({ container: '#dmn-canvas', common: { translate: ['value', translateEs] } });
      dmn.on('views.changed', () => {
        dmn.getActiveViewer()?.get('eventBus').on('elements.changed', () => markDirty());
      });
    }
    await dmn.importXML(state.files.dmn[name]);
    const table = dmn.getViews().find((view) => view.type === 'decisionTable');
    if (table) { await dmn.open(table); }
  } else {
    designer.open(name, state.files.forms[name]);
  }
  fillFileSelect();
}

$('#editor-file').addEventListener('change', (event) => {
  const [kind, ...rest] = event.target.value.split(':');
  openFile(kind, rest.join(':'));
});

// -- draft: load, autosave, conflicts ------------------------------------------------------

async function loadDraft() {
  const draft = await get(urls.draftUrl);
  state.files = { bpmn: draft.bpmn || {}, dmn: draft.dmn || {}, forms: draft.forms || {} };
  state.responsibility = draft.responsibility || {};
  state.revision = draft.revision;
  state.conflict = false;
  state.dirty = false;
  refreshFormCatalog();
  const by = draft.updated_by ? ` por ${draft.updated_by}` : '';
  saveState(`Borrador (revisión ${draft.revision}) guardado${by} ${hhmm(draft.updated_at)}`.trim());
  $('#base-version').textContent = draft.base_version ?? '—';
  await openFile('bpmn', mainBpmn());
  root.dataset.ready = 'true';
}

let timer = null;
function markDirty() {
  if (state.conflict) { return; }
  state.dirty = true;
  saveState('Cambios sin guardar…');
  clearTimeout(timer);
  timer = setTimeout(() => { save().catch(() => {}); }, AUTOSAVE_MS);
}

async function save() {
  clearTimeout(timer);
  if (state.saving) { await state.saving; }
  if (!state.dirty || state.conflict) { return; }
  state.saving = (async () => {
    await exportCurrent();
    state.dirty = false;
    saveState('Guardando…');
    try {
      const answer = await call('PUT', urls.draftUrl, { revision: state.revision,
        bpmn: state.files.bpmn, dmn: state.files.dmn, forms: state.files.forms,
        responsibility: state.responsibility });
      state.revision = answer.revision;
      saveState(`Guardado a las ${hhmm(new Date().toISOString())} (revisión ${state.revision})`);
      root.dataset.revision = String(state.revision);
    } catch (failure) {
      state.dirty = true;
      if (failure instanceof ApiError && failure.status === 409) { showConflict(failure.body); }
      else { saveState('No se pudo guardar'); status(failure.message, 'error'); }
      throw failure;
    }
  })();
  try { await state.saving; } finally { state.saving = null; }
}

function showConflict(body) {
  state.conflict = true;
  saveState('Conflicto: el borrador cambió en el servidor');
  const who = body.updated_by || 'otra persona';
  $('#conflict-message').textContent = body.message ||
    `Otra persona (${who}) guardó este borrador${body.updated_at ? ` a las ${hhmm(body.updated_at)}` : ''}.`;
  $('#conflict-dialog').showModal();
}

$('#conflict-reload').addEventListener('click', async () => {
  $('#conflict-dialog').close();
  await loadDraft();
  status('Se cargó el borrador guardado en el servidor; sus cambios se descartaron.', 'info');
});

$('#conflict-copy').addEventListener('click', async () => {
  await exportCurrent();
  const name = state.current?.kind === 'bpmn' ? state.current.name : mainBpmn();
  const blob = new Blob([state.files.bpmn[name]], { type: 'application/xml' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = name.replace(/\.bpmn$/, '') + '-copia.bpmn';
  document.body.append(link);
  link.click();
  link.remove();
  $('#conflict-dialog').close();
  status(`Su versión se descargó como ${link.download}. Cargue el borrador del servidor para seguir.`, 'warning');
});

window.addEventListener('beforeunload', (event) => {
  if (state.dirty && !state.conflict) { save().catch(() => {}); event.preventDefault(); }
});

// -- check, problems, markers --------------------------------------------------------------

function setCheckMarkers(list) {
  const canvas = modeler.get('canvas');
  const registry = modeler.get('elementRegistry');
  for (const [id, cls] of state.checkMarkers) { if (registry.get(id)) { canvas.removeMarker(id, cls); } }
  state.checkMarkers = [];
  for (const problem of list) {
    if (problem.file && problem.file !== state.current?.name) { continue; }
    if (problem.element_id && registry.get(problem.element_id)) {
      const cls = `cauce-problem-${problem.severity === 'error' ? 'error' : 'warning'}`;
      canvas.addMarker(problem.element_id, cls);
      state.checkMarkers.push([problem.element_id, cls]);
    }
  }
}

function showCheck(list) {
  const registry = modeler.get('elementRegistry');
  const named = (list || []).map((p) => ({ ...p, source: 'check',
    element_name: registry.get(p.element_id)?.businessObject?.name || p.element_id }));
  problems.setCheck(named);
  setCheckMarkers(named);
  return named;
}

async function check() {
  await exportCurrent();
  status('Comprobando con el motor…', 'info');
  try {
    const answer = await call('POST', urls.checkUrl, { bpmn: state.files.bpmn, dmn: state.files.dmn,
      forms: state.files.forms, responsibility: state.responsibility });
    const found = showCheck(answer.problems);
    status(answer.ok ? 'Comprobación superada: el motor puede ejecutar este borrador.'
      : `La comprobación encontró ${count(found.length, 'problema', 'problemas')}.`, answer.ok ? 'ok' : 'error');
    return answer.ok;
  } catch (failure) {
    status(failure.message, 'error');
    return false;
  }
}

async function pickProblem(problem) {
  if (problem.file && problem.file !== state.current?.name) {
    const kind = problem.file.endsWith('.dmn') ? 'dmn' : problem.file.endsWith('.bpmn') ? 'bpmn' : 'forms';
    if (state.files[kind]?.[problem.file]) { await openFile(kind, problem.file); }
  }
  if (state.current?.kind !== 'bpmn' || !problem.element_id) { return; }
  const element = modeler.get('elementRegistry').get(problem.element_id);
  if (!element) { return; }
  modeler.get('selection').select(element);
  modeler.get('canvas').scrollToElement(element);
}

// -- publish -------------------------------------------------------------------------------

$('#btn-publish').addEventListener('click', () => { $('#publish-dialog').showModal(); });
$('#publish-cancel').addEventListener('click', () => $('#publish-dialog').close());
$('#publish-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('#publish-dialog').close();
  try {
    state.dirty = true;
    await save();
  } catch (failure) { return; }
  status('Publicando…', 'info');
  try {
    const answer = await call('POST', urls.publishUrl, { comment: $('#publish-comment').value,
      revision: state.revision });
    status(`Publicada la versión ${answer.number} (${String(answer.hash).slice(0, 12)}).`, 'ok');
    root.dataset.published = String(answer.number);
    $('#publish-comment').value = '';
    await loadDraft();
  } catch (failure) {
    if (failure.status === 422) {
      const found = showCheck(failure.body.problems || []);
      status(`No se publicó: la comprobación encontró ${count(found.length, 'problema', 'problemas')}.`, 'error');
    } else if (failure.status === 409) {
      showConflict(failure.body);
    } else {
      status(failure.message, 'error');
    }
  }
});

// -- new form ------------------------------------------------------------------------------

let newFormDone = null;
function openNewFormDialog(done) {
  newFormDone = done;
  $('#new-form-error').textContent = '';
  $('#new-form-dialog').showModal();
}
$('#new-form-cancel').addEventListener('click', () => $('#new-form-dialog').close());
$('#new-form-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = $('#new-form-id').value.trim();
  const title = $('#new-form-title').value.trim();
  if (!/^[a-z][a-z0-9_]*$/.test(id)) {
    $('#new-form-error').textContent = 'El nombre del formulario debe usar minúsculas, números y «_».';
    return;
  }
  const file = `${id}.json`;
  if (state.files.forms[file] || catalog.forms.some((f) => f.file === file)) {
    $('#new-form-error').textContent = `Ya existe el formulario ${file}.`;
    return;
  }
  $('#new-form-dialog').close();
  state.files.forms[file] = { schema: { $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: title || id, type: 'object', properties: {}, required: [] }, ui: { fields: {}, order: [] } };
  refreshFormCatalog();
  newFormDone?.(file);
  markDirty();
  status(`Formulario ${file} creado: elíjalo en «Archivo» para añadir sus campos.`, 'ok');
  fillFileSelect();
});

// -- toolbar -------------------------------------------------------------------------------

const actions = {
  'btn-undo': () => modeler.get('commandStack').undo(),
  'btn-redo': () => modeler.get('commandStack').redo(),
  'btn-zoom-in': () => modeler.get('zoomScroll').stepZoom(1),
  'btn-zoom-out': () => modeler.get('zoomScroll').stepZoom(-1),
  'btn-zoom-fit': () => modeler.get('canvas').zoom('fit-viewport'),
  'btn-check': () => check(),
  'btn-save': () => { state.dirty = true; return save(); },
  'btn-trial': () => trial.start(),
  'btn-trial-stop': () => trial.stop(),
};
for (const [id, action] of Object.entries(actions)) {
  $(`#${id}`)?.addEventListener('click', () => { Promise.resolve(action()).catch(() => {}); });
}

const trial = new TrialPanel($('#trial-panel'), {
  startUrl: urls.trialUrl,
  trialsUrl: urls.trialsUrl,
  before: async () => {
    if (state.current?.kind !== 'bpmn') { await openFile('bpmn', mainBpmn()); }
    state.dirty = true;
    await save();
  },
  message: status,
  highlight: (done, active) => {
    const canvas = modeler.get('canvas');
    const registry = modeler.get('elementRegistry');
    for (const [id, cls] of state.trialMarkers) { if (registry.get(id)) { canvas.removeMarker(id, cls); } }
    state.trialMarkers = [];
    for (const [ids, cls] of [[done, 'cauce-trial-done'], [active, 'cauce-trial-active']]) {
      for (const id of ids) {
        if (registry.get(id)) { canvas.addMarker(id, cls); state.trialMarkers.push([id, cls]); }
      }
    }
  },
});

// -- start -----------------------------------------------------------------------------------

(async () => {
  try {
    await loadCatalog();
    await loadDraft();
  } catch (failure) {
    status(`No se pudo abrir el borrador: ${failure.message}`, 'error');
    root.dataset.ready = 'error';
  }
})();

// Used by the round-trip test over the interchange corpus: import an XML, export it back.
// A Modeler of its own, in a hidden box, so the draft being edited is never touched.
let spare = null;
window.cauceEditor.roundTrip = async (xml) => {
  if (!spare) {
    const box = document.createElement('div');
    box.className = 'cauce-spare';
    document.body.append(box);
    spare = new BpmnModeler({ container: box, additionalModules: [TranslateEs, KeepUnrenderedDi],
      moddleExtensions: { spiffworkflow: spiffModdle } });
  }
  const result = await spare.importXML(xml);
  const { xml: out } = await spare.saveXML({ format: true });
  return { warnings: result.warnings.map((w) => w.message), xml: out,
    shapes: spare.get('elementRegistry').getAll().length };
};
