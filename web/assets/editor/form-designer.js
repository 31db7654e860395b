// The form designer: edit a form's JSON Schema fields and its layout hints (.ui.json) with a
// live preview. Every change calls ``onChange(form)`` with the whole new form.
import { el, fieldOrder, renderForm } from './form-render.js';

const TYPES = [
  ['text', 'Texto'], ['textarea', 'Texto largo'], ['date', 'Fecha'], ['integer', 'Número entero'],
  ['number', 'Número'], ['boolean', 'Sí / no'], ['enum', 'Opciones'],
];

function kindOf(field, hints) {
  if (field.enum) { return 'enum'; }
  if (field.type === 'boolean' || field.type === 'integer' || field.type === 'number') { return field.type; }
  if (field.format === 'date') { return 'date'; }
  return hints.widget === 'textarea' ? 'textarea' : 'text';
}

function fieldFor(kind, old) {
  const field = { title: old.title || '' };
  if (old.description) { field.description = old.description; }
  if (kind === 'boolean' || kind === 'integer' || kind === 'number') { field.type = kind; }
  else { field.type = 'string'; }
  if (kind === 'date') { field.format = 'date'; }
  if (kind === 'enum') { field.enum = old.enum && old.enum.length ? old.enum : ['si', 'no']; }
  return field;
}

export class FormDesigner {
  constructor(container, onChange) {
    this.container = container;
    this.onChange = onChange;
  }

  open(filename, form) {
    this.filename = filename;
    this.form = JSON.parse(JSON.stringify(form || {}));
    this.form.schema = this.form.schema || { type: 'object', properties: {} };
    this.form.schema.properties = this.form.schema.properties || {};
    this.form.ui = this.form.ui || {};
    this.form.ui.fields = this.form.ui.fields || {};
    this.form.ui.order = fieldOrder(this.form);
    this.render();
  }

  changed() {
    this.form.ui.order = fieldOrder(this.form);
    this.onChange(this.filename, JSON.parse(JSON.stringify(this.form)));
    this.render();
  }

  render() {
    const { schema, ui } = this.form;
    const required = new Set(schema.required || []);
    const rows = fieldOrder(this.form).map((key, index, all) => {
      const field = schema.properties[key];
      const hints = ui.fields[key] || {};
      const kind = kindOf(field, hints);
      const title = el('input', { value: field.title || '', 'aria-label': `Etiqueta de ${key}` });
      title.addEventListener('change', () => { field.title = title.value; this.changed(); });
      const type = el('select', { 'aria-label': `Tipo de ${key}` },
        TYPES.map(([value, label]) => el('option', { value, text: label, selected: value === kind })));
      type.addEventListener('change', () => {
        schema.properties[key] = fieldFor(type.value, field);
        ui.fields[key] = { ...hints };
        if (type.value === 'textarea') { ui.fields[key].widget = 'textarea'; } else { delete ui.fields[key].widget; }
        this.changed();
      });
      const mandatory = el('input', { type: 'checkbox', checked: required.has(key), 'aria-label': `Obligatorio: ${key}` });
      mandatory.addEventListener('change', () => {
        const names = new Set(schema.required || []);
        if (mandatory.checked) { names.add(key); } else { names.delete(key); }
        schema.required = fieldOrder(this.form).filter((name) => names.has(name));
        this.changed();
      });
      const options = el('input', { value: (field.enum || []).join(', '), disabled: kind !== 'enum',
        'aria-label': `Opciones de ${key}`, placeholder: 'a, b, c' });
      options.addEventListener('change', () => {
        field.enum = options.value.split(',').map((v) => v.trim()).filter(Boolean);
        this.changed();
      });
      const up = el('button', { type: 'button', text: '↑', title: 'Subir', disabled: index === 0 });
      up.addEventListener('click', () => this.move(key, -1));
      const down = el('button', { type: 'button', text: '↓', title: 'Bajar', disabled: index === all.length - 1 });
      down.addEventListener('click', () => this.move(key, 1));
      const remove = el('button', { type: 'button', text: 'Quitar', class: 'danger' });
      remove.addEventListener('click', () => {
        delete schema.properties[key];
        delete ui.fields[key];
        schema.required = (schema.required || []).filter((name) => name !== key);
        this.changed();
      });
      return el('tr', {}, el('td', {}, el('code', { text: key })), el('td', {}, title), el('td', {}, type),
        el('td', {}, mandatory), el('td', {}, options), el('td', { class: 'actions' }, up, down, remove));
    });
    const formTitle = el('input', { id: 'form-title', value: schema.title || '' });
    formTitle.addEventListener('change', () => { schema.title = formTitle.value; this.changed(); });
    const newKey = el('input', { id: 'new-field-key', placeholder: 'nombre_del_campo', pattern: '[a-z_][a-z0-9_]*' });
    const newLabel = el('input', { id: 'new-field-label', placeholder: 'Etiqueta' });
    const add = el('button', { type: 'button', text: 'Añadir campo' });
    const problem = el('p', { class: 'cauce-error', role: 'alert' });
    add.addEventListener('click', () => {
      const key = newKey.value.trim();
      if (!/^[a-z_][a-z0-9_]*$/.test(key)) {
        problem.textContent = 'El nombre del campo debe usar minúsculas, números y «_», sin espacios.';
        return;
      }
      if (schema.properties[key]) { problem.textContent = `Ya existe un campo «${key}».`; return; }
      schema.properties[key] = { type: 'string', title: newLabel.value.trim() || key };
      this.changed();
    });
    const preview = el('div', { class: 'cauce-preview' });
    this.container.replaceChildren(
      el('h2', { text: `Formulario ${this.filename}` }),
      el('label', { for: 'form-title', text: 'Título del formulario' }), formTitle,
      el('table', { class: 'cauce-fields' },
        el('thead', {}, el('tr', {}, ['Campo', 'Etiqueta', 'Tipo', 'Obligatorio', 'Opciones', ''].map(
          (text) => el('th', { text })))),
        el('tbody', {}, rows)),
      el('div', { class: 'cauce-add-field' },
        el('label', { for: 'new-field-key', text: 'Nuevo campo' }), newKey,
        el('label', { for: 'new-field-label', text: 'Etiqueta' }), newLabel, add),
      problem,
      el('h3', { text: 'Vista previa' }), preview);
    renderForm(preview, this.form, 'preview');
  }

  move(key, step) {
    const order = fieldOrder(this.form);
    const at = order.indexOf(key);
    order.splice(at, 1);
    order.splice(at + step, 0, key);
    this.form.ui.order = order;
    const props = this.form.schema.properties;
    this.form.schema.properties = Object.fromEntries(order.map((name) => [name, props[name]]));
    this.changed();
  }
}
