/**
 * A tiny element builder. Text always goes in as text nodes (never innerHTML), so names and labels
 * from the API cannot inject markup; no inline styles or handlers in markup, so the strict CSP holds.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'class') {
      el.className = String(value);
    } else if (name === 'testid') {
      el.dataset.testid = String(value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: (Child | Child[])[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** An in-app link: the router intercepts clicks on `a[data-link]`. */
export function link(href: string, text: Child | Child[], attrs: Attrs = {}): HTMLAnchorElement {
  return h('a', { href, 'data-link': true, ...attrs }, ...[text].flat());
}

/** Copies text; falls back to selecting it where the Clipboard API is missing (plain http, old browsers). */
async function copyText(text: string, fallbackTarget?: HTMLElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallbackTarget) {
      const range = document.createRange();
      range.selectNodeContents(fallbackTarget);
      const selection = window.getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      try {
        return document.execCommand('copy');
      } catch {
        return false;
      }
    }
    return false;
  }
}

/** A <code> block with a copy button beside it. */
export function codeWithCopy(text: string, testid: string): HTMLElement {
  const code = h('code', { testid }, text);
  const button = h('button', { type: 'button', class: 'secondary small', testid: `${testid}-copy` }, 'Copy');
  button.addEventListener('click', () => {
    void copyText(text, code).then((ok) => {
      button.textContent = ok ? 'Copied' : 'Select and copy';
      window.setTimeout(() => (button.textContent = 'Copy'), 2000);
    });
  });
  return h('div', { class: 'copy-block' }, h('pre', {}, code), button);
}

/** A modal confirmation (<dialog>), resolving true when confirmed. */
export function confirmDialog(message: string, confirmLabel: string, danger = true): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', testid: 'confirm-dialog' },
      h('form', { method: 'dialog' },
        h('p', {}, message),
        h('div', { class: 'actions' },
          h('button', { value: 'cancel', class: 'secondary', testid: 'confirm-cancel' }, 'Cancel'),
          h('button', { value: 'ok', class: danger ? 'danger' : '', testid: 'confirm-ok' }, confirmLabel),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/** A status line for forms: errors in red, successes quietly. */
export function messageLine(testid: string): { el: HTMLElement; error(text: string): void; info(text: string): void; clear(): void } {
  const el = h('p', { class: 'form-message', role: 'status', testid });
  return {
    el,
    error(text) {
      el.className = 'form-message error';
      el.textContent = text;
    },
    info(text) {
      el.className = 'form-message';
      el.textContent = text;
    },
    clear() {
      el.textContent = '';
    },
  };
}

/** A small stroked SVG icon (paths in a 24x24 box), built with the DOM so the CSP needs no data: URLs. */
export function icon(paths: string[], label: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '2');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  for (const d of paths) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.appendChild(path);
  }
  return svg;
}
