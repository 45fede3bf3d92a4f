/* global window, document, requestAnimationFrame, HTMLVideoElement */
// Injected into the page before any page script (Playwright addInitScript). Plain JS on purpose: tsx
// would wrap a serialized TypeScript function in helpers the page does not have.
//
// Reads the 16-bit frame-index barcode the fixture clips carry in their top 1/12 (block k from the
// left white when bit k is set; each block W/16 wide with a 4-px dark gap at its right and bottom)
// from the PIXELS the page shows: the player's <canvas> after each rendering update, or the <video>
// on each requestVideoFrameCallback. Trusts nothing the player reports about itself. Records
// [frameIndex, epochMs] whenever the index changes; Node drains window.__barcode.frames.
(() => {
  const rec = { frames: [], reads: 0, probeMs: 0, source: null, firstValidAt: null };
  window.__barcode = rec;
  let ctx = null;
  let last = -1;
  const epoch = (t) => performance.timeOrigin + t;

  function ensureCtx() {
    if (ctx) return ctx;
    const probe = document.createElement('canvas');
    probe.width = 16;
    probe.height = 2;
    ctx = probe.getContext('2d', { willReadFrequently: true });
    ctx.imageSmoothingEnabled = false;
    return ctx;
  }

  /** frame index, or -1 when the source shows no picture yet (blank or black canvas). */
  function read(src, w, h) {
    const started = performance.now();
    const c = ensureCtx();
    const bw = w / 16;
    const by = Math.floor((h / 12 - 4) / 2);
    const cy = Math.floor(h * 0.55);
    for (let k = 0; k < 16; k++) {
      c.drawImage(src, Math.floor(k * bw + (bw - 4) / 2), by, 1, 1, k, 0, 1, 1);
      c.drawImage(src, Math.floor((k + 0.5) * bw), cy, 1, 1, k, 1, 1, 1);
    }
    const d = c.getImageData(0, 0, 16, 2).data;
    let index = 0;
    let min = 255;
    let max = 0;
    for (let k = 0; k < 16; k++) {
      const luma = (d[k * 4] + d[k * 4 + 1] + d[k * 4 + 2]) / 3;
      if (luma >= 128) index |= 1 << k;
      const p = (16 + k) * 4;
      const body = (d[p] + d[p + 1] + d[p + 2]) / 3;
      if (body < min) min = body;
      if (body > max) max = body;
    }
    rec.reads++;
    rec.probeMs += performance.now() - started;
    // The clips' colour bars below the barcode: a blank canvas (all black = "frame 0") has none.
    return max - min > 24 ? index : -1;
  }

  function note(index, t) {
    if (index < 0 || index === last) return;
    last = index;
    if (rec.firstValidAt === null) rec.firstValidAt = epoch(t);
    rec.frames.push([index, epoch(t)]);
  }

  // <canvas> (WebCodecs): the player paints in requestAnimationFrame; read once the rendering update
  // that presents it is done (a task posted from rAF runs after it), stamped with that frame's rAF time.
  const channel = new MessageChannel();
  channel.port1.onmessage = (event) => {
    const t = event.data;
    const canvas = document.querySelector('[data-testid="player"] canvas, canvas');
    if (!canvas || !canvas.width || !canvas.height) return;
    rec.source = 'canvas';
    note(read(canvas, canvas.width, canvas.height), t);
  };
  let watched = null;
  function onVideoFrame(now) {
    const v = watched;
    if (v && v.videoWidth) {
      rec.source = 'video';
      note(read(v, v.videoWidth, v.videoHeight), now);
    }
    if (v && v.isConnected) v.requestVideoFrameCallback(onVideoFrame);
    else watched = null;
  }
  function tick(t) {
    const video = document.querySelector('video');
    if (video instanceof HTMLVideoElement) {
      if (watched !== video) {
        watched = video;
        video.requestVideoFrameCallback(onVideoFrame);
      }
    } else {
      channel.port2.postMessage(t);
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})();
