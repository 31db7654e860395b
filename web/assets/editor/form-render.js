// A plain form generated from a Cauce form (JSON Schema + layout hints), for the form
// designer's preview and the play mode. The inbox renders its forms on the server
// (web/formview.py); this is the client-side equivalent for the field kinds Cauce uses.
export function fieldOrder(form) {
  const props = Object.keys(form.schema?.properties || {});
  const order = (form.ui?.order || []).filter((key) => props.includes(key));
  return [...order, ...props.filter((key) => !order.includes(key))];
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) { continue; }
    if (key === 'text') { node.textContent = value; } else { node.setAttribute(key, value === true ? '' : value); }
  }
  children.flat().forEach((child) => child && node.append(child));
  return node;
}
export { el };

/** Render ``form`` into ``container``; return a function reading the typed data back. */
export function renderForm(container, form, prefix = 'f') {
  container.replaceChildren();
  const schema = form.schema || {};
  const required = new Set(schema.required || []);
  const readers = [];
  for (const key of fieldOrder(form)) {
    const field = schema.properties[key] || {};
    const hints = (form.ui?.fields || {})[key] || {};
    const id = `${prefix}-${key}`;
    const label = el('label', { for: id, text: (field.title || key) + (required.has(key) ? ' *' : '') });
    const row = el('div', { class: 'cauce-field' }, label);
    let input;
    if (field.enum) {
      input = el('select', { id, name: key }, el('option', { value: '', text: '—' }),
        field.enum.map((value) => el('option', { value, text: (hints.choices || {})[value] || value })));
      readers.push(() => [key, input.value || undefined]);
    } else if (field.type === 'boolean') {
      input = el('input', { id, name: key, type: 'checkbox' });
      readers.push(() => [key, input.checked]);
    } else if (field.type === 'number' || field.type === 'integer') {
      input = el('input', { id, name: key, type: 'number', step: field.type === 'integer' ? '1' : 'any' });
      readers.push(() => [key, input.value === '' ? undefined : Number(input.value)]);
    } else if (field.type === 'array') {
      input = el('p', { class: 'cauce-muted', text: 'Archivos y listas no se cargan en la vista previa.' });
    } else if (hints.widget === 'textarea') {
      input = el('textarea', { id, name: key, rows: '3' });
      readers.push(() => [key, input.value || undefined]);
    } else {
      const type = field.format === 'date' ? 'date' : field.format === 'date-time' ? 'datetime-local' : 'text';
      input = el('input', { id, name: key, type });
      readers.push(() => [key, input.value || undefined]);
    }
    row.append(input);
    if (field.description) { row.append(el('small', { text: field.description })); }
    container.append(row);
  }
  return () => Object.fromEntries(readers.map((read) => read()).filter(([, v]) => v !== undefined));
}
