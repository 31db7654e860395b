// The problems panel: the linter's findings as you draw and the server's check, in one list.
// Clicking a problem opens its file, selects the element and scrolls to it.
import { el } from './form-render.js';

export const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

const SEVERITY = { error: 'Error', warning: 'Advertencia' };

export function lineOf(xml, elementId) {
  if (!xml || !elementId) { return null; }
  const at = xml.indexOf(`id="${elementId}"`);
  return at < 0 ? null : xml.slice(0, at).split('\n').length;
}

export class ProblemsPanel {
  constructor(list, summary, { onPick }) {
    this.list = list;
    this.summary = summary;
    this.onPick = onPick;
    this.lint = [];
    this.check = [];
    this.checkedOnce = false;
  }

  setLint(problems) { this.lint = problems; this.render(); }

  setCheck(problems) { this.check = problems; this.checkedOnce = true; this.render(); }

  all() { return [...this.check, ...this.lint]; }

  render() {
    const problems = this.all();
    const errors = problems.filter((p) => p.severity === 'error').length;
    this.summary.textContent = problems.length
      ? `${count(errors, 'error', 'errores')}, ${count(problems.length - errors, 'advertencia', 'advertencias')}`
      : (this.checkedOnce ? 'Sin problemas: la comprobación del servidor pasó.' : 'Sin problemas del verificador.');
    this.list.replaceChildren(...problems.map((problem) => {
      const where = [problem.file, problem.line ? `línea ${problem.line}` : null].filter(Boolean).join(', ');
      const button = el('button', { type: 'button', class: `problem problem-${problem.severity}`,
        'data-element': problem.element_id || '' },
        el('span', { class: 'problem-severity', text: SEVERITY[problem.severity] || problem.severity }),
        el('span', { class: 'problem-source', text: problem.source === 'lint' ? 'Verificador' : 'Comprobación' }),
        el('strong', { text: problem.element_name || problem.element_id || '—' }),
        el('span', { class: 'problem-message', text: problem.message }),
        where ? el('small', { text: where }) : null);
      button.addEventListener('click', () => this.onPick(problem));
      return el('li', {}, button);
    }));
  }
}
