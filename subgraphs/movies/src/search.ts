import { sql, type SQL } from 'drizzle-orm';
import { movies } from './tables.ts';

// Search combines two matchers, because each misses what the other finds:
// - full text over search_vector (title in 'simple', overview in 'english'): whole words anywhere,
//   with websearch syntax ("quoted phrase", -excluded) and English stemming for the overview;
// - trigram similarity on lower(title): survives typos ("Godfathr", "Matrx") that full text
//   cannot match at all. Both are served by GIN indexes (movies_search_vector_idx, movies_title_trgm_idx).

/**
 * pg_trgm's default word-similarity threshold (0.6) misses one-letter typos in short titles
 * ("matrex" ~ "the matrix" scores 0.57); 0.4 finds them, and relevance ordering keeps the
 * looser matches below the close ones.
 */
export const wordSimilarityThreshold = 0.4;

/**
 * The `%>` operator reads its threshold from a setting (only operators, not
 * `word_similarity(...) > x`, can use the trigram index). Set with is_local, so it lasts for
 * the current transaction only and never leaks to other users of the pooled connection.
 */
export const useSearchThreshold = sql`SELECT set_config('pg_trgm.word_similarity_threshold', ${String(wordSimilarityThreshold)}, true)`;

/** Matches a title word ('simple') as typed, or an overview word by its English stem. */
function textQueryOf(search: string): SQL {
  return sql`(websearch_to_tsquery('simple', ${search}) || websearch_to_tsquery('english', ${search}))`;
}

const lowerTitle = sql`lower(${movies.title})`;

export function searchMatch(search: string): SQL {
  const needle = sql`lower(${search})`;
  return sql`(${movies.searchVector} @@ ${textQueryOf(search)} OR ${lowerTitle} % ${needle} OR ${lowerTitle} %> ${needle})`;
}

/**
 * Text rank plus both trigram scores: an exact title outranks a longer title containing the
 * words, and a close typo outranks a loose one. Cast to double precision because the value
 * travels through cursors as JSON and must compare equal when sent back; a real would not.
 */
export function relevanceOf(search: string): SQL {
  const needle = sql`lower(${search})`;
  return sql`(ts_rank_cd(${movies.searchVector}, ${textQueryOf(search)}) + word_similarity(${needle}, ${lowerTitle}) + similarity(${lowerTitle}, ${needle}))::double precision`;
}
