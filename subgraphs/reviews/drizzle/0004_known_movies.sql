CREATE TABLE "reviews"."known_movies" (
	"movie_id" bigint PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Hand-written, one time only: a database migrated from an earlier version already holds movies
-- that were loaded in bulk (seed, MovieLens import) before this table existed. No event announces
-- them, so without this copy every rating of them would be refused. This is the only statement of
-- the reviews subgraph that reads the movies schema, and it runs once, here; at run time the
-- table is fed by the movies stream and by the dataset loader. Where the movies schema is not in
-- this database (a split deployment), nothing is copied and the stream replay from its first entry
-- (the consumer group starts at 0) is the only source.
DO $$
BEGIN
  IF to_regclass('movies.movies') IS NOT NULL THEN
    INSERT INTO "reviews"."known_movies" ("movie_id", "created_at")
    SELECT "id", "created_at" FROM "movies"."movies"
    ON CONFLICT ("movie_id") DO NOTHING;
  END IF;
END $$;
