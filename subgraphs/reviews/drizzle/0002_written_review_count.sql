ALTER TABLE "reviews"."movie_stats" ADD COLUMN "comment_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "reviews_movie_written_idx" ON "reviews"."reviews" USING btree ("movie_id","updated_at","user_id") WHERE "reviews"."reviews"."comment" is not null;--> statement-breakpoint
-- Hand-written backfill: the written reviews each movie already has, since the subgraph keeps
-- comment_count by delta from now on and it must start equal to a recount. It runs after the
-- index above, which it can read instead of every rating. The migration is one transaction that
-- holds movie_stats exclusively (ADD COLUMN) and reviews against writes (CREATE INDEX), so no
-- rating can change between the count and the commit. A subgraph of the previous version must not
-- keep running against the migrated database: it would not maintain the column. A movie with
-- written reviews but no stats row (not expected) gets one, so no count is dropped.
INSERT INTO "reviews"."movie_stats" ("movie_id", "comment_count")
SELECT "movie_id", count(*)::integer
FROM "reviews"."reviews"
WHERE "comment" is not null
GROUP BY "movie_id"
ON CONFLICT ("movie_id") DO UPDATE SET "comment_count" = excluded."comment_count";
