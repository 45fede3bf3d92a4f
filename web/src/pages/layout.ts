import type { User } from '../api.ts';
import { h, link } from '../dom.ts';

/** The header on signed-in pages: where you can go, who you are, log out. */
export function appHeader(user: User, pathname: string, onLogout: () => void): HTMLElement {
  const item = (href: string, text: string, testid: string, active: boolean) =>
    link(href, text, { testid, class: active ? 'active' : '', 'aria-current': active ? 'page' : null });
  const onCameras = pathname === '/' || pathname.startsWith('/cameras/');
  return h(
    'header',
    { class: 'app-header' },
    link('/', [h('span', { class: 'brand-dot', 'aria-hidden': 'true' }), h('span', { class: 'brand-name' }, 'picam')], { class: 'brand', testid: 'nav-home' }),
    h(
      'nav',
      { 'aria-label': 'Main' },
      item('/', 'Cameras', 'nav-cameras', onCameras),
      user.role === 'admin' ? item('/admin/cameras', 'Manage', 'nav-admin-cameras', pathname.startsWith('/admin/cameras')) : null,
      user.role === 'admin' ? item('/admin/users', 'Users', 'nav-admin-users', pathname === '/admin/users') : null,
    ),
    h('span', { class: 'spacer' }),
    h('span', { class: 'who', testid: 'nav-user' }, user.username),
    h('button', { type: 'button', class: 'secondary small', testid: 'nav-logout', onclick: onLogout }, 'Log out'),
  );
}

/** A full-page message (share link ended, not found). */
export function fullPageMessage(title: string, text: string, testid: string, extra?: Node | null): HTMLElement {
  return h('main', { class: 'page full-message', testid }, h('div', { class: 'card' }, h('h1', {}, title), h('p', {}, text), extra ?? null));
}
