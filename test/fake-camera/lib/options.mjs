// rpicam-vid's command line (boost::program_options style): "--name value", "--name=value",
// "-x value", "-xvalue"; switches take an optional "=value". Options the fake cannot emulate are
// still accepted when the real binary accepts them, so a command line that works here works there.

/** @typedef {'value' | 'switch' | 'count'} Kind */

// name -> [kind, short alias]. 'count' = -v style: bare means 2, or takes a number.
const OPTIONS = {
  help: ['switch', 'h'],
  version: ['switch'],
  'list-cameras': ['switch'],
  verbose: ['count', 'v'],
  timeout: ['value', 't'],
  output: ['value', 'o'],
  nopreview: ['switch', 'n'],
  width: ['value'],
  height: ['value'],
  framerate: ['value'],
  bitrate: ['value', 'b'],
  intra: ['value', 'g'],
  inline: ['switch'],
  flush: ['switch'],
  listen: ['switch', 'l'],
  profile: ['value'],
  level: ['value'],
  rotation: ['value'],
  hflip: ['switch'],
  vflip: ['switch'],
  denoise: ['value'],
  codec: ['value'],
  'libav-format': ['value'],
  'low-latency': ['switch'],
  camera: ['value'],
  frames: ['value'],
  mode: ['value'],
  shutter: ['value'],
  gain: ['value'],
  awb: ['value'],
  metering: ['value'],
  exposure: ['value'],
  ev: ['value'],
  brightness: ['value'],
  contrast: ['value'],
  saturation: ['value'],
  sharpness: ['value'],
  hdr: ['value'],
  'autofocus-mode': ['value'],
  'lens-position': ['value'],
  'tuning-file': ['value'],
  roi: ['value'],
  'save-pts': ['value'],
};

const SHORT = Object.fromEntries(
  Object.entries(OPTIONS)
    .filter(([, [, short]]) => short)
    .map(([name, [, short]]) => [short, name]),
);

export class UsageError extends Error {}

const invalid = (value, name) => new UsageError(`the argument ('${value}') for option '--${name}' is invalid`);

function parseSwitch(value, name) {
  if (value === undefined || /^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw invalid(value, name);
}

function parseNumber(value, name, { integer = false } = {}) {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw invalid(value, name);
  return n;
}

// rpicam durations: a bare number is milliseconds; units min, s, ms, us, ns.
const DURATION_MS = { min: 60000, s: 1000, ms: 1, us: 1e-3, ns: 1e-6 };
function parseDurationMs(value, name) {
  const m = /^(\d+(?:\.\d+)?)(min|s|ms|us|ns)?$/.exec(value);
  if (!m) throw invalid(value, name);
  return Number(m[1]) * DURATION_MS[m[2] ?? 'ms'];
}

/** Splits argv into [name, value|undefined] pairs, resolving short aliases. */
function tokenize(argv) {
  const pairs = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let name;
    let value;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      value = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (arg.startsWith('-') && arg.length > 1) {
      name = SHORT[arg[1]];
      if (!name) throw new UsageError(`unrecognised option '${arg}'`);
      value = arg.length > 2 ? arg.slice(2).replace(/^=/, '') : undefined;
    } else {
      throw new UsageError(`unrecognised option '${arg}'`);
    }
    const spec = OPTIONS[name];
    if (!spec) throw new UsageError(`unrecognised option '--${name}'`);
    const [kind] = spec;
    const next = argv[i + 1];
    if (value === undefined && kind === 'value') {
      if (next === undefined) throw new UsageError(`the required argument for option '--${name}' is missing`);
      value = next;
      i++;
    } else if (value === undefined && kind === 'count' && next !== undefined && /^\d+$/.test(next)) {
      value = next;
      i++;
    }
    pairs.push([name, value]);
  }
  return pairs;
}

const DEFAULTS = {
  help: false,
  version: false,
  listCameras: false,
  verbose: 1,
  timeoutMs: 5000, // rpicam-vid records 5 s unless told otherwise
  output: '',
  nopreview: false,
  width: 0,
  height: 0,
  framerate: 30,
  inline: false,
  flush: false,
  listen: false,
  codec: 'h264',
  camera: 0,
  frames: 0,
  rotation: 0,
  hflip: false,
  vflip: false,
  lowLatency: false,
};

const camel = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

/** @returns {typeof DEFAULTS & Record<string, unknown>} */
export function parseOptions(argv) {
  const opts = { ...DEFAULTS };
  for (const [name, value] of tokenize(argv)) {
    const [kind] = OPTIONS[name];
    if (kind === 'switch') opts[camel(name)] = parseSwitch(value, name);
    else if (kind === 'count') opts.verbose = value === undefined ? 2 : parseNumber(value, name, { integer: true });
    else if (name === 'timeout') opts.timeoutMs = parseDurationMs(value, name);
    else if (['width', 'height', 'camera', 'frames', 'rotation', 'intra'].includes(name)) {
      opts[name] = parseNumber(value, name, { integer: true });
    } else if (name === 'framerate') opts.framerate = parseNumber(value, name);
    else opts[camel(name)] = value;
  }
  return opts;
}

/** Checks the real binary makes after parsing (messages as rpicam-apps words them). */
export function validateOptions(opts) {
  const rotation = ((opts.rotation % 360) + 360) % 360;
  if (rotation % 90 !== 0) throw new UsageError('illegal rotation value');
  if (rotation === 90 || rotation === 270) throw new UsageError('transforms requiring transpose not supported');
  if (opts.framerate <= 0) throw new UsageError(`invalid framerate ${opts.framerate}`);
  if (opts.codec !== 'h264') {
    // Not a real rpicam-vid message: the fake only has H.264 clips, and says so plainly.
    throw new UsageError(`fake rpicam-vid only emulates --codec h264, not "${opts.codec}"`);
  }
}
