CREATE SCHEMA IF NOT EXISTS "movies";
--> statement-breakpoint
-- pg_trgm backs the fuzzy (typo-tolerant) title search; it is a trusted extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE TABLE "movies"."movie_credits" (
	"movie_id" bigint NOT NULL,
	"person_id" bigint NOT NULL,
	"role" text NOT NULL,
	"character" text,
	"position" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "movie_credits_movie_id_role_person_id_pk" PRIMARY KEY("movie_id","role","person_id")
);
--> statement-breakpoint
CREATE TABLE "movies"."movies" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "movies"."movies_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"source_key" text,
	"title" text NOT NULL,
	"year" integer,
	"genres" text[] DEFAULT '{}'::text[] NOT NULL,
	"languages" text[] DEFAULT '{}'::text[] NOT NULL,
	"runtime_minutes" integer,
	"overview" text,
	"imdb_id" text,
	"tmdb_id" text,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"search_vector" "tsvector" GENERATED ALWAYS AS (setweight(to_tsvector('simple', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(overview, '')), 'B')) STORED,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "movies_source_key_unique" UNIQUE("source_key")
);
--> statement-breakpoint
CREATE TABLE "movies"."people" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "movies"."people_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"source_key" text,
	"name" text NOT NULL,
	CONSTRAINT "people_source_key_unique" UNIQUE("source_key")
);
--> statement-breakpoint
ALTER TABLE "movies"."movie_credits" ADD CONSTRAINT "movie_credits_movie_id_movies_id_fk" FOREIGN KEY ("movie_id") REFERENCES "movies"."movies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "movies"."movie_credits" ADD CONSTRAINT "movie_credits_person_id_people_id_fk" FOREIGN KEY ("person_id") REFERENCES "movies"."people"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "movie_credits_person_idx" ON "movies"."movie_credits" USING btree ("person_id","role");--> statement-breakpoint
CREATE INDEX "movies_search_vector_idx" ON "movies"."movies" USING gin ("search_vector");--> statement-breakpoint
CREATE INDEX "movies_title_trgm_idx" ON "movies"."movies" USING gin (lower("title") gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "movies_genres_idx" ON "movies"."movies" USING gin ("genres");--> statement-breakpoint
CREATE INDEX "movies_languages_idx" ON "movies"."movies" USING gin ("languages");--> statement-breakpoint
CREATE INDEX "movies_year_idx" ON "movies"."movies" USING btree ("year");--> statement-breakpoint
CREATE INDEX "movies_title_idx" ON "movies"."movies" USING btree (lower("title"),"id");