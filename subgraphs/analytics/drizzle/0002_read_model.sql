-- Hand-written note: the new tables start empty and platform_totals.rating_halves_sum at 0. On a
-- database that already had analytics totals, run the backfill once after this migration
-- (`npm run backfill --workspace @platform/analytics`); it rebuilds every table from the source
-- schemas and records the stream positions the event consumer continues from.
CREATE TABLE "analytics"."active_users" (
	"granularity" text NOT NULL,
	"start" timestamp with time zone NOT NULL,
	"user_id" uuid NOT NULL,
	CONSTRAINT "active_users_granularity_start_user_id_pk" PRIMARY KEY("granularity","start","user_id")
);
--> statement-breakpoint
CREATE TABLE "analytics"."activity_buckets" (
	"granularity" text NOT NULL,
	"start" timestamp with time zone NOT NULL,
	"ratings" integer DEFAULT 0 NOT NULL,
	"reviews" integer DEFAULT 0 NOT NULL,
	"new_users" integer DEFAULT 0 NOT NULL,
	"active_users" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "activity_buckets_granularity_start_pk" PRIMARY KEY("granularity","start"),
	CONSTRAINT "activity_buckets_granularity" CHECK ("analytics"."activity_buckets"."granularity" in ('HOUR', 'DAY', 'WEEK'))
);
--> statement-breakpoint
CREATE TABLE "analytics"."movie_stats" (
	"movie_id" bigint PRIMARY KEY NOT NULL,
	"rating_count" integer DEFAULT 0 NOT NULL,
	"rating_halves_sum" bigint DEFAULT 0 NOT NULL,
	"distribution" integer[] DEFAULT '{0,0,0,0,0,0,0,0,0,0}'::integer[] NOT NULL,
	"like_count" integer DEFAULT 0 NOT NULL,
	"dislike_count" integer DEFAULT 0 NOT NULL,
	"average_halves" double precision GENERATED ALWAYS AS (case when rating_count > 0 then rating_halves_sum::double precision / rating_count end) STORED,
	CONSTRAINT "movie_stats_distribution_ten" CHECK (cardinality("analytics"."movie_stats"."distribution") = 10)
);
--> statement-breakpoint
CREATE TABLE "analytics"."processed_events" (
	"event_id" uuid PRIMARY KEY NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "analytics"."user_activity" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"rating_count" integer DEFAULT 0 NOT NULL,
	"rating_halves_sum" bigint DEFAULT 0 NOT NULL,
	"last_active_at" timestamp with time zone,
	"registered_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "analytics"."platform_totals" ADD COLUMN "rating_halves_sum" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "movie_stats_count_idx" ON "analytics"."movie_stats" USING btree ("rating_count" DESC NULLS LAST,"movie_id");--> statement-breakpoint
CREATE INDEX "movie_stats_average_idx" ON "analytics"."movie_stats" USING btree ("average_halves","movie_id") WHERE "analytics"."movie_stats"."rating_count" > 0;--> statement-breakpoint
CREATE INDEX "user_activity_count_idx" ON "analytics"."user_activity" USING btree ("rating_count" DESC NULLS LAST,"user_id") WHERE "analytics"."user_activity"."rating_count" > 0;
