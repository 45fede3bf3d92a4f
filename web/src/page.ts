import type { User } from './api.ts';

/** What every page gets, and what it gives back to the app shell. */
export interface PageContext {
  params: Record<string, string>;
  url: URL;
  /** null on public pages (login, share viewer) */
  user: User | null;
  navigate(path: string, replace?: boolean): void;
}

export interface Page {
  el: HTMLElement;
  title: string;
  /** stop timers, players and sockets: the page is being left */
  dispose?(): void;
}

export type PageFactory = (ctx: PageContext) => Page;
