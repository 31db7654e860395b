// A bpmn-js translate module: Spanish for the palette, context pad, properties panel, linter.
import { SPANISH } from './translations-es.js';

export function translateEs(template, replacements) {
  const text = SPANISH[template] || template;
  return text.replace(/{([^}]+)}/g, (whole, key) => (
    replacements && key in replacements ? replacements[key] : whole));
}

export default { translate: ['value', translateEs] };
