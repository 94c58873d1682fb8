-- Hand-written note: partial indexes for the topMovies(by: RATING) walk at minRatings >= 10, 100,
-- 1000 (see averageIndexFloors in src/tables.ts). movie_stats has one row per movie (tens of
-- thousands), so building them holds writes to it for well under a second.
CREATE INDEX "movie_stats_average_min10_idx" ON "analytics"."movie_stats" USING btree ("average_halves","movie_id") WHERE "analytics"."movie_stats"."rating_count" >= 10;--> statement-breakpoint
CREATE INDEX "movie_stats_average_min100_idx" ON "analytics"."movie_stats" USING btree ("average_halves","movie_id") WHERE "analytics"."movie_stats"."rating_count" >= 100;--> statement-breakpoint
CREATE INDEX "movie_stats_average_min1000_idx" ON "analytics"."movie_stats" USING btree ("average_halves","movie_id") WHERE "analytics"."movie_stats"."rating_count" >= 1000;