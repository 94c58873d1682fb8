CREATE SCHEMA IF NOT EXISTS "analytics";
--> statement-breakpoint
CREATE TABLE "analytics"."platform_totals" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"users" bigint DEFAULT 0 NOT NULL,
	"movies" bigint DEFAULT 0 NOT NULL,
	"ratings" bigint DEFAULT 0 NOT NULL,
	"reviews" bigint DEFAULT 0 NOT NULL,
	"likes" bigint DEFAULT 0 NOT NULL,
	"dislikes" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
