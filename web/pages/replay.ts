/**
 * Replays: an SSH shell's asciicast v2 recording in asciinema-player, and a SQL session as a
 * timeline of its statements, stepped through in the order (and roughly the rhythm) they ran.
 */
import * as AsciinemaPlayer from 'asciinema-player';
import { h } from '../dom.js';

/** Plays an asciicast v2 text (already fetched with the bearer token) in `into`. */
export function playRecording(into: HTMLElement, cast: string): AsciinemaPlayer.Player {
  into.replaceChildren();
  return AsciinemaPlayer.create({ data: cast, parser: 'asciicast' }, into, {
    autoPlay: true,
    preload: true,
    idleTimeLimit: 1,
    fit: 'width',
    controls: true,
    terminalFontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace',
  });
}

/**
 * A button that steps through `steps` (the timeline's items), marking each as it "runs" after a
 * pause that follows the recorded gaps, from 150 ms to 1 s each.
 */
export function timelineReplay(steps: readonly { element: HTMLElement; at: number }[]): HTMLElement {
  const status = h('span', { class: 'muted', 'aria-live': 'polite', 'data-testid': 'timeline-status' });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const button = h('button', { type: 'button', 'data-testid': 'timeline-replay' }, 'Replay the timeline');
  const reset = () => {
    for (const step of steps) step.element.classList.remove('played', 'current');
  };
  button.addEventListener('click', () => {
    if (timer !== undefined) clearTimeout(timer);
    reset();
    for (const step of steps) step.element.classList.add('pending');
    let index = 0;
    const next = () => {
      const step = steps[index];
      if (!step) {
        status.textContent = `replayed ${steps.length} step${steps.length === 1 ? '' : 's'}`;
        timer = undefined;
        return;
      }
      steps[index - 1]?.element.classList.remove('current');
      step.element.classList.remove('pending');
      step.element.classList.add('played', 'current');
      step.element.scrollIntoView({ block: 'nearest' });
      status.textContent = `step ${index + 1} of ${steps.length}`;
      const following = steps[index + 1];
      index++;
      const gap = following ? Math.min(1000, Math.max(150, following.at - step.at)) : 0;
      timer = setTimeout(next, gap);
    };
    next();
  });
  return h('div', { class: 'replay-controls' }, button, ' ', status);
}
