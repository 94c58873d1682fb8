ALTER TABLE "analytics"."platform_totals" ADD CONSTRAINT "platform_totals_single_row" CHECK ("analytics"."platform_totals"."id" = 1);--> statement-breakpoint
-- Hand-written: the read model's one row exists from the start (all zeros until the backfill or
-- the event consumer fills it), so reading totals never has to special-case "no row yet".
INSERT INTO "analytics"."platform_totals" ("id") VALUES (1) ON CONFLICT ("id") DO NOTHING;
