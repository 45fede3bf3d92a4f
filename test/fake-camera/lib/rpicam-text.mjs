// What rpicam-vid prints, worded like rpicam-apps v1.5 with libcamera v0.3 on a Pi 4 with a
// Camera Module 3 (imx708), so log-forwarding and diagnostics code sees realistic text.

export const VERSION_TEXT = [
  'rpicam-apps build: v1.5.0 1b3ff9a6b7a1 24-05-2024 (14:28:39)',
  'rpicam-apps capabilites: egl:1 qt:1 drm:1 libav:1',
  'libcamera build: v0.3.0+rpt20240617',
  '',
].join('\n');

const SENSOR_ID = '/base/soc/i2c0mux/i2c@1/imx708@1a';

export const LIST_CAMERAS_TEXT = [
  'Available cameras',
  '-----------------',
  `0 : imx708 [4608x2592 10-bit RGGB] (${SENSOR_ID})`,
  "    Modes: 'SRGGB10_CSI2P' : 1536x864 [120.13 fps - (768, 432)/3072x1728 crop]",
  '                             2304x1296 [56.03 fps - (0, 0)/4608x2592 crop]',
  '                             4608x2592 [14.35 fps - (0, 0)/4608x2592 crop]',
  '',
  '',
].join('\n');

export const NO_CAMERAS_TEXT = 'No cameras available!\n';

export const HELP_TEXT = `Valid options are:
  -h [ --help ] [=arg(=1)] (=0)         Print this help message
  --version [=arg(=1)] (=0)             Displays the build version number
  --list-cameras [=arg(=1)] (=0)        Lists the available cameras attached to the system.
  --camera arg (=0)                     Chooses the camera to use. To list the available indexes, use the
                                        --list-cameras option.
  -v [ --verbose ] [=arg(=2)] (=1)      Set verbosity level. Level 0 is no output, 1 is default, 2 is verbose.
  -t [ --timeout ] arg (=5sec)          Time for which program runs. If no units are provided default to ms.
  -o [ --output ] arg                   Set the output file name
  -n [ --nopreview ] [=arg(=1)] (=0)    Do not show a preview window
  --width arg (=0)                      Set the output image width (0 = use default value)
  --height arg (=0)                     Set the output image height (0 = use default value)
  --rotation arg (=0)                   Set the image rotation (0 or 180)
  --hflip [=arg(=1)] (=0)               Request an image flip in the horizontal direction
  --vflip [=arg(=1)] (=0)               Request an image flip in the vertical direction
  --framerate arg (=-1)                 Set the fixed framerate for preview and video modes
  --denoise arg (=auto)                 Sets the Denoise operating mode: auto, off, cdn_off, cdn_fast, cdn_hq
  -b [ --bitrate ] arg (=0bps)          Set the video bitrate for encoding. If no units are provided default to
                                        bits/second.
  --profile arg                         Set the encoding profile
  --level arg                           Set the encoding level
  -g [ --intra ] arg (=0)               Set the intra frame period
  --inline [=arg(=1)] (=0)              Force PPS/SPS header with every I frame (h264 only)
  --codec arg (=h264)                   Set the codec to use, either h264, libav, mjpeg or yuv420
  --libav-format arg                    Sets the libav encoder output format to use. Leave blank to try and
                                        deduce this from the filename.
  --low-latency [=arg(=1)] (=0)         Enables the libav/libx264 low latency presets (libav only)
  -l [ --listen ] [=arg(=1)] (=0)       Listen for an incoming client network connection before sending data
                                        to the client
  --flush [=arg(=1)] (=0)               Flush output data as soon as possible
  --frames arg (=0)                     Run for the exact number of frames specified. This will override any
                                        timeout set.
`;

// libcamera stamps its log lines with CLOCK_MONOTONIC as h:mm:ss.nnnnnnnnn, and the thread id.
function libcameraStamp() {
  const ns = process.hrtime.bigint();
  const s = ns / 1_000_000_000n;
  const frac = String(ns % 1_000_000_000n).padStart(9, '0');
  const mm = String((s / 60n) % 60n).padStart(2, '0');
  const ss = String(s % 60n).padStart(2, '0');
  return `[${s / 3600n}:${mm}:${ss}.${frac}]`;
}

const threadId = (offset) => process.pid + offset;
const info = (thread, where, text) => `${libcameraStamp()} [${threadId(thread)}]  INFO ${where} ${text}`;

/** Printed while rpicam-vid parses options and opens the camera manager. */
export function cameraManagerLines() {
  return [
    info(0, 'Camera camera_manager.cpp:325', 'libcamera v0.3.0+rpt20240617'),
    info(3, 'RPI vc4.cpp:446', `Registered camera ${SENSOR_ID} to Unicam device /dev/media3 and ISP device /dev/media0`),
    info(3, 'RPI pipeline_base.cpp:1104', "Using configuration file '/usr/share/libcamera/pipeline/rpi/vc4/rpi_apps.yaml'"),
  ];
}

// The imx708 mode libcamera picks: the 2x2 binned mode up to its size, else the next one.
const sensorMode = (width, height) => (width <= 1536 && height <= 864 ? '1536x864' : '2304x1296');

/** Printed when the camera is configured, i.e. after the output is open (after accept() for --listen). */
export function configureLines(width, height) {
  const mode = sensorMode(width, height);
  return [
    info(0, 'Camera camera.cpp:1183', `configuring streams: (0) ${width}x${height}-YUV420 (1) ${mode}-SBGGR10_CSI2P`),
    info(3, 'RPI vc4.cpp:621', `Sensor: ${SENSOR_ID} - Selected sensor format: ${mode}-SBGGR10_1X10 - Selected unicam format: ${mode}-pBAA`),
  ];
}

/** Without a preview window rpicam-vid prints its info text per frame to stderr. */
export function frameInfoLine(n, fps) {
  return `#${n} (${n === 0 ? '0.00' : fps.toFixed(2)} fps) exp 29981.00 ag 1.75 dg 1.00`;
}
