// Entity ids arrive as GraphQL ID strings from anyone (clients, other subgraphs' references).
// Anything that is not a well-formed id must resolve to "no such entity", never reach the
// database as a value PostgreSQL would refuse to cast (which would surface as a 500).

// 16 digits stay within Number.MAX_SAFE_INTEGER's range; bigint identity columns stay far below it.
const numericIdPattern = /^[1-9][0-9]{0,15}$/;

/** The number behind a bigint id ("42" -> 42), or null for anything else ("abc", "-1", "007", "1e3"). */
export function parseNumericId(id: string): number | null {
  if (!numericIdPattern.test(id)) return null;
  const value = Number(id);
  return Number.isSafeInteger(value) ? value : null;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (id: string): boolean => uuidPattern.test(id);

/**
 * DataLoader batch function body for entities with bigint ids: fetches the rows of the
 * well-formed ids in one query and answers each requested id with its row or null.
 */
export async function loadByNumericIds<Row>(
  ids: readonly string[],
  fetch: (ids: number[]) => Promise<Row[]>,
  idOf: (row: Row) => number,
): Promise<(Row | null)[]> {
  const numericIds = [...new Set(ids.map(parseNumericId).filter((id) => id !== null))];
  const rows = numericIds.length === 0 ? [] : await fetch(numericIds);
  const byId = new Map(rows.map((row) => [idOf(row), row]));
  return ids.map((id) => {
    const numericId = parseNumericId(id);
    return numericId === null ? null : (byId.get(numericId) ?? null);
  });
}
