/**
 * A small client-side router on the History API. Routes are path patterns (`/cameras/:id`); in-app
 * links are `a[data-link]` (see dom.ts `link`) and are intercepted here, anything else navigates
 * normally. The relay serves index.html for every page route, so reloads and shared URLs work.
 */

export interface Match<T> {
  route: T;
  params: Record<string, string>;
}

interface CompiledPath {
  regex: RegExp;
  keys: string[];
}

interface CompiledRoute<T> extends CompiledPath {
  route: T;
}

function compilePath(path: string): CompiledPath {
  const keys: string[] = [];
  const source = path
    .split('/')
    .map((part) => {
      if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      keys.push(part.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { regex: new RegExp(`^${source}/?$`), keys };
}

function paramsOf(compiled: CompiledPath, pathname: string): Record<string, string> | null {
  const m = compiled.regex.exec(pathname);
  if (!m) return null;
  const params: Record<string, string> = {};
  compiled.keys.forEach((key, i) => {
    params[key] = decodeURIComponent(m[i + 1] ?? '');
  });
  return params;
}

/** The parameters of `pathname` under the pattern `path`, or null when it does not match. */
export function matchPath(path: string, pathname: string): Record<string, string> | null {
  return paramsOf(compilePath(path), pathname);
}

export class Router<T extends { path: string }> {
  private readonly routes: CompiledRoute<T>[];
  private readonly onChange: (match: Match<T> | null, url: URL) => void;

  constructor(routes: T[], onChange: (match: Match<T> | null, url: URL) => void) {
    this.routes = routes.map((route) => ({ ...compilePath(route.path), route }));
    this.onChange = onChange;
  }

  match(pathname: string): Match<T> | null {
    for (const r of this.routes) {
      const params = paramsOf(r, pathname);
      if (params) return { route: r.route, params };
    }
    return null;
  }

  start(): void {
    window.addEventListener('popstate', () => this.render());
    document.addEventListener('click', (event) => {
      if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      const anchor = (event.target as Element | null)?.closest?.('a[data-link]');
      if (!(anchor instanceof HTMLAnchorElement) || anchor.target === '_blank') return;
      const url = new URL(anchor.href, location.href);
      if (url.origin !== location.origin) return;
      event.preventDefault();
      this.navigate(url.pathname + url.search + url.hash);
    });
    this.render();
  }

  navigate(path: string, replace = false): void {
    const current = location.pathname + location.search + location.hash;
    if (path !== current) {
      if (replace) history.replaceState(null, '', path);
      else history.pushState(null, '', path);
    }
    this.render();
  }

  private render(): void {
    const url = new URL(location.href);
    this.onChange(this.match(url.pathname), url);
  }
}
