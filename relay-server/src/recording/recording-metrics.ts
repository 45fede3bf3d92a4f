import { Counter, Gauge, type Registry } from 'prom-client';

/** The recorder's counters, on the relay's registry. Bumped per fragment or per purge, never per frame. */
export interface RecordingMetrics {
  bytesWritten: Counter;
  fragmentsDropped: Counter;
  writeErrors: Counter;
  /** segments deleted, by reason: `age` (past RECORD_RETAIN_DAYS) or `space` (disk limit, early) */
  purgedSegments: Counter<'reason'>;
  purgedBytes: Counter<'reason'>;
  recordedBytes: Gauge;
}

export function createRecordingMetrics(registry: Registry): RecordingMetrics {
  const registers = [registry];
  return {
    bytesWritten: new Counter({ name: 'picam_recording_bytes_written_total', help: 'bytes the recorder wrote to segment files', registers }),
    fragmentsDropped: new Counter({
      name: 'picam_recording_fragments_dropped_total',
      help: 'fragments not recorded because the disk did not keep up',
      registers,
    }),
    writeErrors: new Counter({ name: 'picam_recording_write_errors_total', help: 'segment files given up on a write error (e.g. a full disk)', registers }),
    purgedSegments: new Counter({
      name: 'picam_recording_purged_segments_total',
      help: 'segments deleted by retention: reason age (older than RECORD_RETAIN_DAYS) or space (early: RECORD_MAX_BYTES or 10 % disk free)',
      labelNames: ['reason'],
      registers,
    }),
    purgedBytes: new Counter({ name: 'picam_recording_purged_bytes_total', help: 'bytes of segments deleted by retention, by reason', labelNames: ['reason'], registers }),
    recordedBytes: new Gauge({ name: 'picam_recording_bytes', help: 'bytes of recordings on disk (as indexed)', registers }),
  };
}
