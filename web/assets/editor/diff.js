// The visual diff of two versions (/procesos/<id>/diferencias): both diagrams side by side,
// elements added (green), removed (red) and changed (amber) coloured, from the server's diff.
import './diff.css';
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';

async function text(url) {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) { throw new Error(`${url}: ${response.status}`); }
  return response.text();
}

async function json(url) {
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!response.ok) { throw new Error(`${url}: ${response.status}`); }
  return response.json();
}

function pane(parent, title) {
  const box = document.createElement('section');
  box.className = 'diff-pane';
  const heading = document.createElement('h3');
  heading.textContent = title;
  const canvas = document.createElement('div');
  canvas.className = 'diff-canvas';
  box.append(heading, canvas);
  parent.append(box);
  return canvas;
}

async function draw(canvas, xml, marks) {
  const viewer = new NavigatedViewer({ container: canvas });
  await viewer.importXML(xml);
  viewer.get('canvas').zoom('fit-viewport');
  const registry = viewer.get('elementRegistry');
  for (const [ids, cls] of marks) {
    for (const id of ids) { if (registry.get(id)) { viewer.get('canvas').addMarker(id, cls); } }
  }
  return viewer;
}

function legend(parent) {
  const list = document.createElement('ul');
  list.className = 'diff-legend';
  for (const [cls, label] of [['diff-added', 'Añadido'], ['diff-removed', 'Eliminado'], ['diff-changed', 'Cambiado']]) {
    const item = document.createElement('li');
    item.className = cls;
    item.textContent = label;
    list.append(item);
  }
  parent.append(list);
}

async function main() {
  const root = document.getElementById('diff-diagram');
  if (!root) { return; }
  const { fromUrl, toUrl, diffUrl } = root.dataset;
  try {
    // The draft has no .bpmn address of its own: then only the older diagram is drawn.
    const [fromXml, toXml, diff] = await Promise.all([text(fromUrl), toUrl ? text(toUrl) : null,
      json(diffUrl)]);
    const ids = (list) => (list || []).map((item) => item.id);
    legend(root);
    const grid = document.createElement('div');
    grid.className = 'diff-grid';
    root.append(grid);
    await draw(pane(grid, root.dataset.fromLabel || 'Versión anterior'), fromXml,
      [[ids(diff.removed), 'diff-removed'], [ids(diff.changed), 'diff-changed']]);
    if (toXml) {
      await draw(pane(grid, root.dataset.toLabel || 'Versión nueva'), toXml,
        [[ids(diff.added), 'diff-added'], [ids(diff.changed), 'diff-changed']]);
    }
    root.dataset.ready = 'true';
  } catch (failure) {
    const message = document.createElement('p');
    message.className = 'diff-error';
    message.textContent = 'No se pudo dibujar la comparación de los diagramas.';
    root.append(message);
    root.dataset.ready = 'error';
  }
}

main();
