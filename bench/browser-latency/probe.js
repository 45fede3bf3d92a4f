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
  const rec = { frames: [], reads: 0, probeMs: 0, source: null, firstValidAt: null, startup: {}, events: { longTasks: [], binary: [], decodes: [], outputs: [], ticks: [] } };
  window.__barcode = rec;

  // Page open -> first picture, step by step (performance.now() ms, first occurrence of each): when
  // the page's WebSocket was created, opened, got its first text and first binary message, and when
  // a VideoDecoder first got a chunk and first gave a frame. Names the stage a slow start spends in.
  const epoch = (t) => performance.timeOrigin + t;
  // The measured window's timeline (epoch ms), drained with the frames: main-thread tasks over 50 ms,
  // binary socket messages, decoder input (with its queue depth) and output, and every rendering
  // update (rAF). A stall in the picture is then put down to the stage that stopped.
  if (typeof PerformanceObserver !== 'undefined' && PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) rec.events.longTasks.push([epoch(e.startTime), e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  }
  const stamp = (name) => {
    if (rec.startup[name] === undefined) rec.startup[name] = performance.now();
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      stamp('wsCreated');
      this.addEventListener('open', () => stamp('wsOpen'));
      this.addEventListener('message', (e) => {
        stamp(typeof e.data === 'string' ? 'wsFirstText' : 'wsFirstBinary');
        if (typeof e.data !== 'string') rec.events.binary.push(epoch(performance.now()));
      });
    }
  };
  if (window.VideoDecoder) {
    const NativeDecoder = window.VideoDecoder;
    window.VideoDecoder = class extends NativeDecoder {
      constructor(init) {
        super({
          ...init,
          output: (frame) => {
            stamp('firstDecoded');
            rec.events.outputs.push(epoch(performance.now()));
            init.output(frame);
          },
        });
        stamp('decoderCreated');
      }
      decode(chunk) {
        stamp('firstDecode');
        // [when, queue depth before this chunk]: how far behind the decoder was when a stall began
        rec.events.decodes.push([epoch(performance.now()), this.decodeQueueSize]);
        return super.decode(chunk);
      }
    };
  }
  let ctx = null;
  let last = -1;

  // One drawImage of the whole picture into a small canvas per read: each drawImage of a <video>
  // converts the whole frame (~1 ms at 720p, several at 1080p in software), so 32 one-pixel draws
  // would load the page under test. 128x96 keeps 8 px per block and ~8 px of barcode height.
  const PW = 128;
  const PH = 96;
  function ensureCtx() {
    if (ctx) return ctx;
    const probe = document.createElement('canvas');
    probe.width = PW;
    probe.height = PH;
    ctx = probe.getContext('2d', { willReadFrequently: true });
    return ctx;
  }

  /** frame index, or -1 when the source shows no picture yet (blank or black canvas). */
  function read(src, w, h) {
    const started = performance.now();
    const c = ensureCtx();
    c.drawImage(src, 0, 0, w, h, 0, 0, PW, PH);
    const d = c.getImageData(0, 0, PW, PH).data;
    const bw = w / 16;
    const sy = Math.floor(((h / 12 - 4) / 2) * (PH / h));
    const cy = Math.floor(PH * 0.55);
    const luma = (x, y) => {
      const i = (y * PW + x) * 4;
      return (d[i] + d[i + 1] + d[i + 2]) / 3;
    };
    let index = 0;
    let min = 255;
    let max = 0;
    for (let k = 0; k < 16; k++) {
      const sx = Math.floor((k * bw + (bw - 4) / 2) * (PW / w));
      if (luma(sx, sy) >= 128) index |= 1 << k;
      const body = luma(Math.floor((k + 0.5) * (PW / 16)), cy);
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
    rec.events.ticks.push(epoch(t));
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
