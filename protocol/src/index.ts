export * from './errors.ts';
export * from './frame-header.ts';
export * from './messages.ts';
export * from './close-codes.ts';
export * from './api.ts';
export * from './equality.ts';
export * from './h264/index.ts';
export * from './adts/index.ts';
