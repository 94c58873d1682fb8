CREATE SCHEMA IF NOT EXISTS "reviews";
--> statement-breakpoint
CREATE TABLE "reviews"."exclusions" (
	"user_id" uuid NOT NULL,
	"movie_id" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "exclusions_user_id_movie_id_pk" PRIMARY KEY("user_id","movie_id")
);
--> statement-breakpoint
CREATE TABLE "reviews"."movie_stats" (
	"movie_id" bigint PRIMARY KEY NOT NULL,
	"rating_count" integer DEFAULT 0 NOT NULL,
	"rating_halves_sum" bigint DEFAULT 0 NOT NULL,
	"like_count" integer DEFAULT 0 NOT NULL,
	"dislike_count" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reviews"."reactions" (
	"user_id" uuid NOT NULL,
	"movie_id" bigint NOT NULL,
	"reaction" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reactions_user_id_movie_id_pk" PRIMARY KEY("user_id","movie_id"),
	CONSTRAINT "reactions_kind" CHECK ("reviews"."reactions"."reaction" in ('LIKE', 'DISLIKE'))
);
--> statement-breakpoint
CREATE TABLE "reviews"."review_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"movie_id" bigint NOT NULL,
	"action" text NOT NULL,
	"old_rating_halves" smallint,
	"new_rating_halves" smallint,
	"old_comment" text,
	"new_comment" text,
	"actor_id" uuid,
	"reason" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reviews"."reviews" (
	"user_id" uuid NOT NULL,
	"movie_id" bigint NOT NULL,
	"rating_halves" smallint NOT NULL,
	"comment" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reviews_user_id_movie_id_pk" PRIMARY KEY("user_id","movie_id"),
	CONSTRAINT "reviews_rating_range" CHECK ("reviews"."reviews"."rating_halves" between 1 and 10)
) PARTITION BY HASH ("user_id");
--> statement-breakpoint
-- Hand-written (drizzle-kit cannot express partitions): 16 hash partitions by user, so one user's
-- reviews live in one partition and the table can grow to hundreds of millions of rows.
DO $$
BEGIN
  FOR i IN 0..15 LOOP
    EXECUTE format('CREATE TABLE "reviews"."reviews_p%s" PARTITION OF "reviews"."reviews" FOR VALUES WITH (MODULUS 16, REMAINDER %s)', lpad(i::text, 2, '0'), i);
  END LOOP;
END $$;
--> statement-breakpoint
CREATE INDEX "review_history_user_at_idx" ON "reviews"."review_history" USING btree ("user_id","at");--> statement-breakpoint
CREATE INDEX "reviews_movie_idx" ON "reviews"."reviews" USING btree ("movie_id","updated_at","user_id");