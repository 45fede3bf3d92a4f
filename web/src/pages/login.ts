import { api, errorText } from '../api.ts';
import { h, messageLine } from '../dom.ts';
import type { Page, PageContext } from '../page.ts';
import { setSignedInUser } from '../session.ts';

export function loginPage(ctx: PageContext): Page {
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true, testid: 'login-username' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const submit = h('button', { type: 'submit', testid: 'login-submit' }, 'Log in');
  const message = messageLine('login-error');
  const form = h(
    'form',
    { class: 'card login-card', testid: 'login-form' },
    h('h1', {}, h('span', { class: 'brand-dot', 'aria-hidden': 'true' }), 'picam'),
    h('label', {}, 'Username', username),
    h('label', {}, 'Password', password),
    submit,
    message.el,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.clear();
    api
      .login(username.value.trim(), password.value)
      .then(({ user }) => {
        setSignedInUser(user);
        const next = ctx.url.searchParams.get('next');
        // Only same-site paths: never an open redirect to another origin.
        ctx.navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', true);
      })
      .catch((err: unknown) => {
        message.error(errorText(err));
        password.select();
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  return { el: h('main', { class: 'page login-page', testid: 'page-login' }, form), title: 'Log in' };
}
