// Play mode: run the draft as a throwaway case on the server, fill the ready tasks' forms,
// fast-forward timers, and colour what ran and what waits on the diagram.
import { call } from './api.js';
import { el, renderForm } from './form-render.js';

// An ISO instant as people read it: dd/mm/aaaa hh:mm in Ecuador's time.
export function ecuadorTime(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) { return iso; }
  const part = Object.fromEntries(new Intl.DateTimeFormat('es-EC', {
    timeZone: 'America/Guayaquil', day: '2-digit', month: '2-digit', year: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(when).map((p) => [p.type, p.value]));
  return `${part.day}/${part.month}/${part.year} ${part.hour}:${part.minute}`;
}

export class TrialPanel {
  constructor(container, { startUrl, trialsUrl, before, highlight, message }) {
    Object.assign(this, { container, startUrl, trialsUrl, before, highlight, message });
    this.trialId = null;
  }

  async start() {
    await this.before();
    try {
      const answer = await call('POST', this.startUrl, {});
      this.trialId = answer.trial_id;
      this.show(answer.state);
    } catch (failure) {
      this.showError(failure);
    }
  }

  async stop() {
    if (this.trialId) {
      try { await call('DELETE', `${this.trialsUrl}/${this.trialId}`); } catch (failure) { /* gone already */ }
    }
    this.trialId = null;
    this.highlight([], []);
    this.container.hidden = true;
  }

  showError(failure) {
    const fields = failure.body?.fields;
    const details = fields ? Object.entries(fields).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : v}`) : [];
    this.message([failure.message, ...details].join(' · '), 'error');
  }

  async act(path, body) {
    try {
      this.show(await call('POST', `${this.trialsUrl}/${this.trialId}/${path}`, body));
      this.message('', 'info');
    } catch (failure) {
      this.showError(failure);
    }
  }

  show(state) {
    this.container.hidden = false;
    const body = this.container.querySelector('.trial-body');
    const parts = [];
    if (state.finished) { parts.push(el('p', { class: 'trial-finished', text: 'La prueba llegó al final del procedimiento.' })); }
    for (const task of state.ready || []) {
      const fields = el('div', { class: 'trial-fields' });
      const read = task.form ? renderForm(fields, task.form, `trial-${task.task_id}`) : () => ({});
      const done = el('button', { type: 'button', text: 'Completar' });
      done.addEventListener('click', () => this.act(`tasks/${encodeURIComponent(task.task_id)}/complete`, { data: read() }));
      parts.push(el('fieldset', { class: 'trial-task', 'data-activity': task.activity_id },
        el('legend', { text: `${task.name}${task.lane ? ` · ${task.lane}` : ''}` }), fields, done));
    }
    for (const timer of state.timers || []) {
      const fire = el('button', { type: 'button', text: 'Adelantar el plazo' });
      fire.addEventListener('click', () => this.act('timers/fire', { id: timer.id }));
      parts.push(el('div', { class: 'trial-timer' }, el('span', { text: `Temporizador «${timer.name || timer.id}»${timer.due ? `: vence el ${ecuadorTime(timer.due)}` : ''}` }), fire));
    }
    body.replaceChildren(...parts);
    this.highlight(state.completed || [], [...(state.ready || []).map((t) => t.activity_id),
      ...(state.timers || []).map((t) => t.id)]);
  }
}
