import { api, errorText, type Camera, type User } from '../api.ts';
import { confirmDialog, h, messageLine, replaceChildren } from '../dom.ts';
import { formatDateTime } from '../format.ts';
import type { Page, PageContext } from '../page.ts';

/** Accounts (admins): add, change role / password / camera grants, remove. */

type MessageLine = ReturnType<typeof messageLine>;

/** What the forms and cards need from the page: the cameras to grant, reloading, the page's message line. */
interface UsersView {
  cameras(): Camera[];
  refresh(): Promise<void>;
  message: MessageLine;
  me: string | undefined;
}

export function usersPage(ctx: PageContext): Page {
  const list = h('div', { class: 'admin-list', testid: 'user-list' });
  const addPanel = h('div', {});
  let cameras: Camera[] = [];
  const view: UsersView = {
    cameras: () => cameras,
    message: messageLine('users-message'),
    me: ctx.user?.id,
    async refresh() {
      try {
        const [u, c] = await Promise.all([api.users(), api.cameras()]);
        cameras = c.cameras;
        replaceChildren(list, u.users.map((user) => userCard(user, view)));
      } catch (err) {
        view.message.error(errorText(err));
      }
    },
  };
  const showAddForm = (): void => replaceChildren(addPanel, addUserForm(view, showAddForm));

  void view.refresh().then(showAddForm);
  return {
    el: h('main', { class: 'page', testid: 'page-users' }, h('div', { class: 'page-title' }, h('h1', {}, 'Users')), view.message.el, addPanel, list),
    title: 'Users',
  };
}

function cameraChecks(cameras: Camera[], selected: string[]): { el: HTMLElement; value(): string[] } {
  const inputs = cameras.map((c) => {
    const input = h('input', { type: 'checkbox', value: c.id, checked: selected.includes(c.id), testid: 'user-camera' });
    return { input, el: h('label', { class: 'check' }, input, c.name) };
  });
  const el = h('fieldset', { class: 'chips' }, h('legend', {}, 'Cameras this viewer may watch'), inputs.length ? inputs.map((i) => i.el) : h('span', { class: 'muted' }, 'No cameras yet.'));
  return { el, value: () => inputs.filter((i) => i.input.checked).map((i) => i.input.value) };
}

function roleSelect(role: User['role'], testid: string): HTMLSelectElement {
  return h('select', { testid }, h('option', { value: 'viewer', selected: role === 'viewer' }, 'viewer (sees granted cameras)'), h('option', { value: 'admin', selected: role === 'admin' }, 'admin (everything)'));
}

/** `reset`: a user was added; a fresh form replaces this one. */
function addUserForm(view: UsersView, reset: () => void): HTMLFormElement {
  const username = h('input', { required: true, maxlength: 64, autocomplete: 'off', testid: 'user-add-username' });
  const password = h('input', { type: 'password', required: true, minlength: 8, autocomplete: 'new-password', testid: 'user-add-password' });
  const role = roleSelect('viewer', 'user-add-role');
  const grants = cameraChecks(view.cameras(), []);
  const addMessage = messageLine('user-add-message');
  const form = h(
    'form',
    { class: 'card', testid: 'user-add-form' },
    h('h2', {}, 'Add a user'),
    h('div', { class: 'form-grid' }, h('label', {}, 'Username', username), h('label', {}, 'Password (8+ characters)', password), h('label', {}, 'Role', role)),
    grants.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit', testid: 'user-add-submit' }, 'Add user')),
    addMessage.el,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    api
      .addUser({ username: username.value.trim(), password: password.value, role: role.value as User['role'], cameraIds: grants.value() })
      .then(() => {
        reset();
        void view.refresh();
      })
      .catch((err: unknown) => addMessage.error(errorText(err)));
  });
  return form;
}

function userCard(user: User, view: UsersView): HTMLElement {
  const panel = h('div', {});
  const rowMessage = messageLine('user-message');
  const names = (user.cameraIds ?? []).map((id) => view.cameras().find((c) => c.id === id)?.name ?? id);
  const edit = () => replaceChildren(panel, editUserForm(user, view, rowMessage, () => panel.replaceChildren()));
  const el = h(
    'article',
    { class: 'card', testid: 'user-row' },
    h('div', { class: 'card-head' }, h('h2', { testid: 'user-name' }, user.username), h('span', { class: `badge ${user.role === 'admin' ? 'online' : ''}` }, user.role), user.id === view.me ? h('span', { class: 'muted' }, '(you)') : null),
    h('p', { class: 'muted' }, user.role === 'admin' ? 'All cameras' : names.length ? `Cameras: ${names.join(', ')}` : 'No cameras granted', user.createdAt ? ` · since ${formatDateTime(user.createdAt)}` : ''),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary small', testid: 'user-edit', onclick: edit }, 'Edit'), h('button', { type: 'button', class: 'danger small', testid: 'user-delete', onclick: () => void removeUser(user, view, rowMessage) }, 'Remove')),
    rowMessage.el,
    panel,
  );
  el.dataset.userId = user.id;
  return el;
}

function editUserForm(user: User, view: UsersView, rowMessage: MessageLine, close: () => void): HTMLFormElement {
  const role = roleSelect(user.role, 'user-edit-role');
  const password = h('input', { type: 'password', minlength: 8, autocomplete: 'new-password', placeholder: 'leave empty to keep', testid: 'user-edit-password' });
  const grants = cameraChecks(view.cameras(), user.cameraIds ?? []);
  const form = h(
    'form',
    { class: 'settings-form' },
    h('div', { class: 'form-grid' }, h('label', {}, 'Role', role), h('label', {}, 'New password', password)),
    grants.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit', testid: 'user-edit-save' }, 'Save'), h('button', { type: 'button', class: 'secondary', onclick: close }, 'Cancel')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body: { role: User['role']; cameraIds: string[]; password?: string } = { role: role.value as User['role'], cameraIds: grants.value() };
    if (password.value) body.password = password.value;
    api
      .updateUser(user.id, body)
      .then(() => view.refresh())
      .catch((err: unknown) => rowMessage.error(errorText(err)));
  });
  return form;
}

async function removeUser(user: User, view: UsersView, rowMessage: MessageLine): Promise<void> {
  if (!(await confirmDialog(`Remove the account “${user.username}”? Its sessions end and the share links it made are revoked at once.`, 'Remove user'))) return;
  api
    .deleteUser(user.id)
    .then(({ revokedShares }) => {
      const n = revokedShares.length;
      view.message.info(`Removed ${user.username}${n > 0 ? `; ${n} share link${n === 1 ? '' : 's'} they made ${n === 1 ? 'was' : 'were'} revoked` : ''}.`);
      return view.refresh();
    })
    .catch((err: unknown) => rowMessage.error(errorText(err)));
}
