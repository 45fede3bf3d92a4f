import { link } from '../dom.ts';
import type { Page, PageContext } from '../page.ts';
import { fullPageMessage } from './layout.ts';

export function notFoundPage(_ctx: PageContext, text = 'There is nothing at this address.'): Page {
  return { el: fullPageMessage('Not found', text, 'page-not-found', link('/', 'Go to your cameras')), title: 'Not found' };
}
