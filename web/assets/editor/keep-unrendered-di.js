// bpmn-js rebuilds each diagram plane from what it drew when it saves (BpmnDiOrdering), so the
// shapes of elements it could not draw (e.g. a process outside every pool on a collaboration
// plane, as some tools export) vanish from the file. Put those back: nobody could have edited
// or deleted what was never on the canvas.
const AFTER_ORDERING = 1500; // BpmnDiOrdering runs at 2000

function KeepUnrenderedDi(eventBus, canvas, elementRegistry) {
  let original = new Map();

  eventBus.on('import.done', () => {
    original = new Map();
    for (const root of canvas.getRootElements()) {
      const plane = root.di;
      if (plane && plane.planeElement) { original.set(plane, [...plane.planeElement]); }
    }
  });

  eventBus.on('saveXML.start', AFTER_ORDERING, () => {
    for (const [plane, before] of original) {
      const now = new Set(plane.get('planeElement'));
      for (const di of before) {
        const semantic = di.bpmnElement;
        if (!now.has(di) && (!semantic || !elementRegistry.get(semantic.id))) {
          plane.get('planeElement').push(di);
        }
      }
    }
  });
}
KeepUnrenderedDi.$inject = ['eventBus', 'canvas', 'elementRegistry'];

export default { __init__: ['keepUnrenderedDi'], keepUnrenderedDi: ['type', KeepUnrenderedDi] };
