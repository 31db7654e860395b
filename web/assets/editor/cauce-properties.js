// Cauce's own entries in the properties panel: lane -> role, user task -> form, timers with a
// working-days helper, conditions and scripts with the sandbox's verdict, call activity ->
// procedure, business-rule task -> decision table. The choices come from the API once, when
// the editor opens (``catalog``), so every select is synchronous.
import { h } from '@bpmn-io/properties-panel/preact';
import { useEffect, useState } from '@bpmn-io/properties-panel/preact/hooks';
import {
  SelectEntry, TextAreaEntry, TextFieldEntry, isSelectEntryEdited, isTextAreaEntryEdited,
  isTextFieldEntryEdited,
} from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

const FORM_PROPERTY = 'formJsonSchemaFilename';

// -- extension helpers --------------------------------------------------------------------

function extensionOf(bo, type) {
  return (bo.extensionElements?.values || []).find((value) => value.$type === type);
}

export function spiffProperty(element, name) {
  const props = extensionOf(getBusinessObject(element), 'spiffworkflow:Properties');
  return (props?.properties || []).find((p) => p.name === name)?.value || '';
}

export function setSpiffProperty(element, name, value, { bpmnFactory, commandStack }) {
  const bo = getBusinessObject(element);
  const commands = [];
  let extensions = bo.extensionElements;
  if (!extensions) {
    extensions = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    extensions.$parent = bo;
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: bo, properties: { extensionElements: extensions } } });
  }
  let props = extensionOf(bo, 'spiffworkflow:Properties') ||
    (extensions.values || []).find((v) => v.$type === 'spiffworkflow:Properties');
  if (!props) {
    props = bpmnFactory.create('spiffworkflow:Properties', { properties: [] });
    props.$parent = extensions;
    commands.push({ cmd: 'element.updateModdleProperties', context: { element,
      moddleElement: extensions, properties: { values: [...(extensions.values || []), props] } } });
  }
  const existing = (props.properties || []).find((p) => p.name === name);
  if (existing && value) {
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: existing, properties: { value } } });
  } else if (existing) {
    commands.push({ cmd: 'element.updateModdleProperties', context: { element,
      moddleElement: props, properties: { properties: props.properties.filter((p) => p !== existing) } } });
  } else if (value) {
    const created = bpmnFactory.create('spiffworkflow:Property', { name, value });
    created.$parent = props;
    commands.push({ cmd: 'element.updateModdleProperties', context: { element,
      moddleElement: props, properties: { properties: [...(props.properties || []), created] } } });
  }
  commandStack.execute('properties-panel.multi-command-executor', commands);
}

function bodyElement(element, type) {
  return extensionOf(getBusinessObject(element), type);
}

function setBodyElement(element, type, value, { bpmnFactory, commandStack }) {
  const bo = getBusinessObject(element);
  const commands = [];
  let extensions = bo.extensionElements;
  if (!extensions) {
    extensions = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    extensions.$parent = bo;
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: bo, properties: { extensionElements: extensions } } });
  }
  const existing = (extensions.values || []).find((v) => v.$type === type);
  if (existing) {
    commands.push({ cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: existing, properties: { value } } });
  } else {
    const created = bpmnFactory.create(type, { value });
    created.$parent = extensions;
    commands.push({ cmd: 'element.updateModdleProperties', context: { element,
      moddleElement: extensions, properties: { values: [...(extensions.values || []), created] } } });
  }
  commandStack.execute('properties-panel.multi-command-executor', commands);
}

// -- working days -------------------------------------------------------------------------

/** Turn "15 días hábiles desde request_date" into the timer expression Cauce's timers use. */
export function workingDaysExpression(text) {
  const match = /^\s*(\d+)\s*d[ií]as?\s+h[aá]biles(?:\s+desde\s+([A-Za-z_][A-Za-z0-9_]*))?\s*$/i
    .exec(text || '');
  if (!match) { return null; }
  return `add_working_days(${match[2] || 'request_date'}, ${Number(match[1])})`;
}

// -- entries ------------------------------------------------------------------------------

function services() {
  return { bpmnFactory: useService('bpmnFactory'), commandStack: useService('commandStack'),
    modeling: useService('modeling'), translate: useService('translate'),
    debounce: useService('debounceInput') };
}

function LaneRoleEntry({ element, id, catalog }) {
  const { modeling, translate } = services();
  const roles = catalog.roles || [];
  const current = roles.find((row) => row.lane === element.id);
  return h(SelectEntry, {
    element, id, label: translate('Rol (tabla de responsabilidades)'),
    description: current ? `${translate('Cargos')}: ${(current.positions || []).join('; ')}`
      : translate('El carril debe corresponder a un rol para que sus tareas tengan responsable.'),
    getValue: () => (current ? current.lane : ''),
    setValue: (lane) => {
      const row = roles.find((r) => r.lane === lane);
      if (!row) { return; }
      modeling.updateProperties(element, { id: row.lane, name: element.businessObject.name || row.role_name });
    },
    getOptions: () => [{ value: '', label: translate('<ninguno>') },
      ...roles.map((row) => ({ value: row.lane, label: row.role_name }))],
  });
}

function FormEntry({ element, id, catalog }) {
  const svc = services();
  const forms = catalog.forms || [];
  return h(SelectEntry, {
    element, id, label: svc.translate('Formulario'),
    getValue: () => spiffProperty(element, FORM_PROPERTY),
    setValue: (value) => {
      if (value === '__new__') {
        catalog.onNewForm?.(element, (filename) => setSpiffProperty(element, FORM_PROPERTY, filename, svc));
        return;
      }
      setSpiffProperty(element, FORM_PROPERTY, value, svc);
    },
    getOptions: () => [{ value: '', label: svc.translate('<ninguno>') },
      ...forms.map((f) => ({ value: f.file, label: f.title ? `${f.title} (${f.file})` : f.file })),
      { value: '__new__', label: svc.translate('Nuevo formulario…') }],
  });
}

function VettedTextEntry({ element, id, label, kind, getValue, setValue, catalog }) {
  const { debounce } = services();
  const [verdict, setVerdict] = useState(null);
  const text = getValue();
  useEffect(() => {
    let live = true;
    const timer = setTimeout(async () => {
      if (!text || !catalog.vet) { setVerdict(null); return; }
      const answer = await catalog.vet(kind, text);
      if (live) { setVerdict(answer); }
    }, 400);
    return () => { live = false; clearTimeout(timer); };
  }, [text]);
  const description = verdict == null ? null : (verdict.ok ? '✔ Aceptado por el entorno seguro'
    : `✖ ${verdict.message}`);
  return h(TextAreaEntry, { element, id, label, getValue, setValue, debounce, monospace: true,
    rows: 2, description });
}

function ConditionEntry({ element, id, catalog }) {
  const { modeling, bpmnFactory, translate } = services();
  const bo = getBusinessObject(element);
  return h(VettedTextEntry, {
    element, id, catalog, kind: 'condition', label: translate('Condición (Python)'),
    getValue: () => bo.conditionExpression?.body || '',
    setValue: (value) => {
      const expression = value ? bpmnFactory.create('bpmn:FormalExpression', { body: value }) : undefined;
      modeling.updateProperties(element, { conditionExpression: expression });
    },
  });
}

function ScriptEntry({ element, id, catalog }) {
  const { modeling, translate } = services();
  const bo = getBusinessObject(element);
  return h(VettedTextEntry, {
    element, id, catalog, kind: 'script', label: translate('Guion (Python)'),
    getValue: () => bo.script || '',
    setValue: (value) => modeling.updateProperties(element, { script: value, scriptFormat: 'python' }),
  });
}

function timerDefinition(element) {
  return (getBusinessObject(element).eventDefinitions || [])
    .find((d) => is(d, 'bpmn:TimerEventDefinition'));
}

function timerKind(definition) {
  return ['timeDate', 'timeDuration', 'timeCycle'].find((k) => definition[k]) || 'timeDuration';
}

function TimerEntry({ element, id }) {
  const { commandStack, bpmnFactory, translate, debounce } = services();
  const definition = timerDefinition(element);
  const kind = timerKind(definition);
  const setTimer = (newKind, body) => {
    const properties = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
    properties[newKind] = bpmnFactory.create('bpmn:FormalExpression', { body });
    commandStack.execute('element.updateModdleProperties',
      { element, moddleElement: definition, properties });
  };
  return [
    h(SelectEntry, { element, id: `${id}-kind`, label: translate('Tipo de plazo'),
      getValue: () => kind,
      setValue: (value) => setTimer(value, definition[kind]?.body || ''),
      getOptions: () => [
        { value: 'timeDuration', label: translate('Duración ISO 8601 (p. ej. P15D)') },
        { value: 'timeDate', label: translate('Fecha ISO 8601 o expresión') },
        { value: 'timeCycle', label: translate('Ciclo ISO 8601 (p. ej. R3/P1D)') }] }),
    h(TextFieldEntry, { element, id: `${id}-value`, label: translate('Valor del plazo'), debounce,
      description: translate('Ayuda: escriba «15 días hábiles desde request_date» y se convierte en la fecha de Cauce.'),
      getValue: () => definition[kind]?.body || '',
      setValue: (value) => {
        const working = workingDaysExpression(value);
        if (working) { setTimer('timeDate', working); } else { setTimer(kind, value); }
      },
      validate: (value) => {
        if (!value || workingDaysExpression(value)) { return null; }
        if (kind === 'timeDuration' && /^P/i.test(value) && !/^P(?=[\dT])(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/i.test(value)) {
          return translate('No es una duración ISO 8601 válida (p. ej. P15D, PT1H).');
        }
        return null;
      } }),
  ];
}

function CalledProcessEntry({ element, id, catalog }) {
  const { modeling, translate } = services();
  return h(SelectEntry, { element, id, label: translate('Procedimiento llamado'),
    getValue: () => getBusinessObject(element).calledElement || '',
    setValue: (value) => modeling.updateProperties(element, { calledElement: value }),
    getOptions: () => [{ value: '', label: translate('<ninguno>') },
      ...(catalog.processes || []).map((p) => ({ value: p.id, label: `${p.name} (${p.id})` }))] });
}

function DecisionEntry({ element, id, catalog }) {
  const svc = services();
  return h(SelectEntry, { element, id, label: svc.translate('Tabla de decisión'),
    getValue: () => bodyElement(element, 'spiffworkflow:CalledDecisionId')?.value || '',
    setValue: (value) => setBodyElement(element, 'spiffworkflow:CalledDecisionId', value, svc),
    getOptions: () => [{ value: '', label: svc.translate('<ninguno>') },
      ...(catalog.decisions || []).map((d) => ({ value: d.id, label: d.name ? `${d.name} (${d.id})` : d.id }))] });
}

// -- the provider ---------------------------------------------------------------------------

function cauceEntries(element, catalog) {
  const entry = (id, component, edited) => ({ id, component: (props) => h(component, { ...props, catalog }),
    isEdited: edited, element });
  const entries = [];
  if (is(element, 'bpmn:Lane')) { entries.push(entry('cauce-lane-role', LaneRoleEntry, isSelectEntryEdited)); }
  if (is(element, 'bpmn:UserTask')) { entries.push(entry('cauce-form', FormEntry, isSelectEntryEdited)); }
  if (is(element, 'bpmn:SequenceFlow') && is(element.source, 'bpmn:Gateway')) {
    entries.push(entry('cauce-condition', ConditionEntry, isTextAreaEntryEdited));
  }
  if (is(element, 'bpmn:ScriptTask')) { entries.push(entry('cauce-script', ScriptEntry, isTextAreaEntryEdited)); }
  if (timerDefinition(element)) {
    entries.push({ id: 'cauce-timer', element, isEdited: isTextFieldEntryEdited,
      component: (props) => h('div', null, TimerEntry({ ...props, id: 'cauce-timer' })) });
  }
  if (is(element, 'bpmn:CallActivity')) { entries.push(entry('cauce-called', CalledProcessEntry, isSelectEntryEdited)); }
  if (is(element, 'bpmn:BusinessRuleTask')) { entries.push(entry('cauce-decision', DecisionEntry, isSelectEntryEdited)); }
  return entries;
}

function CauceProvider(propertiesPanel, config) {
  this.catalog = (config && config.catalog) || {};
  propertiesPanel.registerProvider(400, this);
}
CauceProvider.$inject = ['propertiesPanel', 'config.cauce'];

CauceProvider.prototype.getGroups = function (element) {
  return (groups) => {
    const entries = cauceEntries(element, this.catalog);
    if (entries.length) {
      groups.splice(1, 0, { id: 'cauce', label: 'Cauce', entries, shouldOpen: true });
    }
    return groups;
  };
};

export default { __init__: ['cauceProperties'], cauceProperties: ['type', CauceProvider] };
