// The SpiffWorkflow extension elements Cauce's procedures use (bpmn/*.bpmn), declared so the
// Modeler reads and writes them as typed properties rather than opaque XML.
function bodyType(name) {
  return { name, superClass: ['Element'], properties: [
    { name: 'value', type: 'String', isBody: true }] };
}

export default {
  name: 'SpiffWorkflow',
  prefix: 'spiffworkflow',
  uri: 'http://spiffworkflow.org/bpmn/schema/1.0/core',
  xml: { tagAlias: 'lowerCase' },
  associations: [],
  types: [
    { name: 'Properties', superClass: ['Element'], properties: [
      { name: 'properties', type: 'Property', isMany: true }] },
    { name: 'Property', superClass: ['Element'], properties: [
      { name: 'name', type: 'String', isAttr: true },
      { name: 'value', type: 'String', isAttr: true }] },
    bodyType('CalledDecisionId'),
    bodyType('PreScript'),
    bodyType('PostScript'),
    bodyType('PayloadExpression'),
    bodyType('VariableName'),
    bodyType('InstructionsForEndUser'),
  ],
};
