/**
 * Registers the service worker (/sw.js, built from pwa/sw.ts) once the page has loaded, so its
 * install (which stores the app shell) never competes with the first picture. Where service workers
 * are unavailable (plain http on a LAN address, private modes) the app simply runs without one.
 */
export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  const register = () => {
    // updateViaCache 'none': the browser always asks the relay for /sw.js, so a new build is seen at once.
    navigator.serviceWorker.register('/sw.js', { scope: '/', updateViaCache: 'none' }).catch((err: unknown) => {
      console.warn('picam: service worker not registered:', err instanceof Error ? err.message : err);
    });
  };
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
}
