CREATE TABLE `recording_fragments` (
	`segment_id` integer NOT NULL,
	`camera_id` text NOT NULL,
	`start_us` integer NOT NULL,
	`end_us` integer NOT NULL,
	`offset` integer NOT NULL,
	`length` integer NOT NULL,
	`keyframe` integer NOT NULL,
	PRIMARY KEY(`segment_id`, `offset`),
	FOREIGN KEY (`segment_id`) REFERENCES `recording_segments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `recording_fragments_camera_start_idx` ON `recording_fragments` (`camera_id`,`start_us`);--> statement-breakpoint
CREATE TABLE `recording_segments` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`camera_id` text NOT NULL,
	`path` text NOT NULL,
	`start_us` integer NOT NULL,
	`end_us` integer NOT NULL,
	`bytes` integer NOT NULL,
	`init_bytes` integer NOT NULL,
	`backfill` integer NOT NULL,
	FOREIGN KEY (`camera_id`) REFERENCES `cameras`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `recording_segments_path_unique` ON `recording_segments` (`path`);--> statement-breakpoint
CREATE INDEX `recording_segments_camera_start_idx` ON `recording_segments` (`camera_id`,`start_us`);--> statement-breakpoint
CREATE INDEX `recording_segments_start_idx` ON `recording_segments` (`start_us`);--> statement-breakpoint
ALTER TABLE `cameras` ADD `record` text;--> statement-breakpoint
ALTER TABLE `shares` ADD `clip_start` integer;--> statement-breakpoint
ALTER TABLE `shares` ADD `clip_end` integer;