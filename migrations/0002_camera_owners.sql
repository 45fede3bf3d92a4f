CREATE TABLE `camera_owners` (
	`camera_id` text PRIMARY KEY NOT NULL,
	`node_id` text NOT NULL,
	`epoch` integer NOT NULL,
	`claimed_at` integer NOT NULL,
	FOREIGN KEY (`camera_id`) REFERENCES `cameras`(`id`) ON UPDATE no action ON DELETE cascade
);
